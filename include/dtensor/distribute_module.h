// distribute_module: the mechanism the parameter-partitioning parallel styles are built on.
//
// partition_fn(name, submodule, mesh) runs for every module of the tree (the root as ""); after
// each call, the submodule's own parameters and buffers that are still plain tensors are
// replicated (distribute_tensor with Replicate from src_data_rank). input_fn becomes a forward
// pre-hook and output_fn a forward hook (they run when the module is called through a hookable
// dtensor::nn::ModuleHolder). A module can be distributed only once: two partitioning styles on
// one module is an error.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include <dtensor/device_mesh.h>

namespace torch::nn {
class Module;
}

namespace dtensor {

using PartitionFn = std::function<void(const std::string& name, torch::nn::Module& module, const DeviceMesh& mesh)>;
using InputFn = std::function<void(torch::nn::Module& module, std::vector<at::Tensor>& inputs, const DeviceMesh& mesh)>;
using OutputFn = std::function<void(torch::nn::Module& module, std::vector<at::Tensor>& outputs, const DeviceMesh& mesh)>;

void distribute_module(torch::nn::Module& module, const DeviceMesh& mesh, const PartitionFn& partition_fn = {},
                       const InputFn& input_fn = {}, const OutputFn& output_fn = {},
                       std::optional<int> src_data_rank = 0);

}  // namespace dtensor
