// Differentiable conversions between local tensors and DTensors, with PyTorch's backward rules
// (documented in include/dtensor/tensor.h). Each builds a small autograd Node by hand: the
// saved state is a spec, which custom Function contexts cannot hold.
#pragma once

#include <ATen/core/Tensor.h>

#include <dtensor/spec.h>

namespace dtensor::detail {

// Wraps `local` (this rank's shard: `input` itself, or a copy run_check synchronised) as a DTensor
// with `spec`; the gradient flows to `input`.
at::Tensor from_local_differentiable(const at::Tensor& input, const at::Tensor& local, SpecPtr spec);
// `grad_spec`: placements and global meta the local gradient is wrapped with in backward.
at::Tensor to_local_differentiable(const at::Tensor& dtensor, SpecPtr grad_spec);
at::Tensor redistribute_differentiable(const at::Tensor& dtensor, SpecPtr target, bool async_op);

}  // namespace dtensor::detail
