// The models of PyTorch's TP tests (torch/testing/_internal/distributed/_tensor/common_dtensor.py),
// built from hookable dtensor::nn layers.
#pragma once

#include <torch/nn/functional/activation.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>

#include <dtensor/nn/layers.h>

namespace dtensor::testing {

// net2(relu(net1(x))), net1 = Linear(10, 16), net2 = Linear(16, 10), seeded like PyTorch's.
struct MLPModuleImpl : torch::nn::Module {
  explicit MLPModuleImpl(bool bias = true) {
    torch::manual_seed(5);
    net1 = register_module("net1", dtensor::nn::Linear(torch::nn::LinearOptions(10, 16).bias(bias)));
    net2 = register_module("net2", dtensor::nn::Linear(torch::nn::LinearOptions(16, 10).bias(bias)));
  }
  at::Tensor forward(const at::Tensor& x) { return net2(torch::relu(net1(x))); }
  dtensor::nn::Linear net1{nullptr}, net2{nullptr};
};
DTENSOR_MODULE(MLPModule);

// Copies every parameter of `from` into the same-named parameter of `to` (plain modules).
inline void copy_parameters(torch::nn::Module& to, torch::nn::Module& from) {
  torch::NoGradGuard no_grad;
  auto src = from.named_parameters();
  for (auto& p : to.named_parameters()) p.value().copy_(src[p.key()]);
}

}  // namespace dtensor::testing
