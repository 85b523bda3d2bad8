// Hookable versions of the torch::nn layers the parallel styles know, and RMSNorm.
#pragma once

#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include <dtensor/nn/module_holder.h>

namespace dtensor::nn {

using Linear = ModuleHolder<torch::nn::LinearImpl>;
using Embedding = ModuleHolder<torch::nn::EmbeddingImpl>;
using LayerNorm = ModuleHolder<torch::nn::LayerNormImpl>;
using Dropout = ModuleHolder<torch::nn::DropoutImpl>;

// Root-mean-square norm over the last dim: x * rsqrt(mean(x^2, -1) + eps) * weight, with the
// parameter "weight" initialised to ones (as PyTorch's test RMSNormPython).
class RMSNormImpl : public torch::nn::Cloneable<RMSNormImpl> {
 public:
  explicit RMSNormImpl(int64_t dim, double eps = 1e-6);
  void reset() override;
  at::Tensor forward(const at::Tensor& x);

  int64_t dim;
  double eps;
  at::Tensor weight;
};
DTENSOR_MODULE(RMSNorm);

}  // namespace dtensor::nn
