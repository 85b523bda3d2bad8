// parallelize_module: applies parallel styles to a module tree, in place.
//
// Plan keys name modules by path, matched one dotted component at a time against named children
// with fnmatch wildcards (*, ?, [a-b], [!x]); "" is the module itself. Entries apply in order and
// the same style object is applied to every match. Unlike PyTorch (which warns and skips), a key
// that matches nothing is an error naming the key, the unmatched token and the children there
// were. Tensor parallelism needs a 1-D mesh: slice mesh["tp"] from an N-D mesh.
//
// src_data_rank: parameters are scattered (Shard) or broadcast (Replicate) from that group rank,
// so every rank ends up with the single-device parameters even if they were initialised
// differently; nullopt means no communication (each rank slices its own copy).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <torch/nn/pimpl.h>

#include <dtensor/parallel/style.h>

namespace dtensor::parallel {

using ParallelizePlan = std::vector<std::pair<std::string, ParallelStyle>>;  // applied in order
struct ParallelizeOptions {
  std::optional<int> src_data_rank = 0;
};

std::shared_ptr<torch::nn::Module> parallelize_module(std::shared_ptr<torch::nn::Module> module,
                                                      const DeviceMesh& mesh, const ParallelizePlan& plan,
                                                      const ParallelizeOptions& options = {});
std::shared_ptr<torch::nn::Module> parallelize_module(std::shared_ptr<torch::nn::Module> module,
                                                      const DeviceMesh& mesh, const ParallelStyle& style,
                                                      const ParallelizeOptions& options = {});

// Overloads for module holders (torch::nn::ModuleHolder, DTENSOR_MODULE types): parallelize the
// held module and return the holder.
template <class Holder, class PlanOrStyle,
          std::enable_if_t<std::is_base_of_v<torch::detail::ModuleHolderIndicator, Holder>, int> = 0>
Holder& parallelize_module(Holder& holder, const DeviceMesh& mesh, const PlanOrStyle& plan,
                           const ParallelizeOptions& options = {}) {
  parallelize_module(std::static_pointer_cast<torch::nn::Module>(holder.ptr()), mesh, plan, options);
  return holder;
}

}  // namespace dtensor::parallel
