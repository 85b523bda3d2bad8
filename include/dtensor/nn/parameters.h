// Replacing a module's parameters (what the parallel styles do, and weight tying afterwards).
//
// Parameters live twice in libtorch: in the module's registry (parameters(), named_parameters(),
// what optimizers see) and in member fields (LinearImpl::weight, used by forward). Replacing one
// without the other silently trains one tensor and computes with another, so replace_parameter
// updates both. The member fields of torch::nn::Linear, Embedding, LayerNorm and dtensor's RMSNorm
// are known; a custom module declares its own with bind_parameter.
#pragma once

#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace torch::nn {
class Module;
}

namespace dtensor::nn {

void bind_parameter(torch::nn::Module& module, const std::string& name, at::Tensor* member);

// Replaces the registered parameter `name` (which must exist) and its bound member field. The new
// value keeps the old parameter's requires_grad when it is a leaf.
void replace_parameter(torch::nn::Module& module, const std::string& name, at::Tensor value);

// Same for a registered buffer.
void replace_buffer(torch::nn::Module& module, const std::string& name, at::Tensor value);

// The module's parameters (recursively), each tensor once, in first-seen order. libtorch's
// parameters() lists a tied weight once per module holding it, so an optimizer or a gradient
// clip built from it would count that tensor twice; Python's Module.parameters() removes such
// duplicates, and so does this.
std::vector<at::Tensor> unique_parameters(const torch::nn::Module& module);

}  // namespace dtensor::nn
