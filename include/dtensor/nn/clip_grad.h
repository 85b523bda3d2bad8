// Gradient-norm clipping over a mix of DTensor and plain parameters.
//
// torch::nn::utils::clip_grad_norm_ works when every gradient is a DTensor or every gradient is
// plain. A tensor-parallel model usually holds both (sharded projections next to plain, replicated
// norm weights when sequence parallelism is off), and there the libtorch version would scale a
// plain gradient in place by a DTensor coefficient, which is an error. This one reduces each
// DTensor gradient's norm over its mesh (the norm of the global gradient: Shard and Partial
// placements are accounted for by the reduction rules), combines all norms into one plain
// scalar, identical on every rank, and scales every gradient by the same plain coefficient.
#pragma once

#include <vector>

#include <ATen/core/Tensor.h>

namespace dtensor::nn::utils {

// Returns the total norm of all gradients (a plain 0-dim tensor) before clipping.
// norm_type: p of the p-norm (inf for the max norm). Parameters without a gradient are skipped.
at::Tensor clip_grad_norm_(const std::vector<at::Tensor>& parameters, double max_norm, double norm_type = 2.0,
                           bool error_if_nonfinite = false);

}  // namespace dtensor::nn::utils
