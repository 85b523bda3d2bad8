#include <dtensor/nn/layers.h>

#include <dtensor/nn/parameters.h>

namespace dtensor::nn {

RMSNormImpl::RMSNormImpl(int64_t dim, double eps) : dim(dim), eps(eps) { reset(); }

void RMSNormImpl::reset() {
  weight = register_parameter("weight", at::ones({dim}));
  bind_parameter(*this, "weight", &weight);
}

// sum / dim rather than mean: libtorch 1.13's mean.dim keeps its input (x^2, as large as x) for
// backward, sum.dim_IntList only its sizes. One activation of x's size less per norm (bench_tp,
// memory suite); the values are the same (mean is sum then divide).
at::Tensor RMSNormImpl::forward(const at::Tensor& x) {
  const auto mean_square = x.pow(2).sum(-1, /*keepdim=*/true).div(static_cast<double>(x.size(-1)));
  return x * at::rsqrt(mean_square + eps) * weight;
}

}  // namespace dtensor::nn
