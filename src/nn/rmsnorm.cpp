#include <dtensor/nn/layers.h>

#include <dtensor/nn/parameters.h>

namespace dtensor::nn {

RMSNormImpl::RMSNormImpl(int64_t dim, double eps) : dim(dim), eps(eps) { reset(); }

void RMSNormImpl::reset() {
  weight = register_parameter("weight", at::ones({dim}));
  bind_parameter(*this, "weight", &weight);
}

at::Tensor RMSNormImpl::forward(const at::Tensor& x) {
  return x * at::rsqrt(x.pow(2).mean(-1, /*keepdim=*/true) + eps) * weight;
}

}  // namespace dtensor::nn
