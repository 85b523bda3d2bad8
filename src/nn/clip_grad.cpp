// Gradient clipping over DTensor and plain gradients with the fewest collectives.
//
// ||g||_p^p over the global gradients is a sum of local terms: for a DTensor gradient, sum the
// local shard's |x|^p over the mesh dims it is sharded on (its replicas on the other dims hold the
// same values and are counted once). Terms are therefore accumulated per (mesh, sharded mesh
// dims) bucket and each bucket costs one all_reduce per sharded mesh dim, whatever the number of
// parameters: one all_reduce in total for a 1-D tensor-parallel model. The max norm (p = inf)
// works the same with max in place of sum.
//
// A Partial gradient (a sequence-parallel norm weight's) is reduced first: its norm is not a sum
// of the partial terms. The reduced Replicate gradient replaces the parameter's gradient, so the
// optimizer step that follows does not reduce it again for every op it applies.
#include <dtensor/nn/clip_grad.h>

#include <cmath>

#include <ATen/ATen.h>

#include <dtensor/comm.h>
#include <dtensor/tensor.h>

namespace dtensor::nn::utils {

namespace {

struct Bucket {
  std::optional<DeviceMesh> mesh;  // nullopt: plain gradients
  std::vector<int64_t> sharded_mesh_dims;
  at::Tensor total;  // float64 scalar
};

at::Tensor local_term(const at::Tensor& local, double p) {
  auto x = local.detach().to(at::kDouble).abs();
  if (x.numel() == 0) return at::zeros({}, at::kDouble);  // an empty trailing shard
  return std::isinf(p) ? x.max() : x.pow(p).sum();
}

// Replaces a gradient with Partial placements by its reduction (Replicate on those mesh dims).
DTensor reduced_grad(at::Tensor& param) {
  DTensor grad(param.grad());
  Placements placements = grad.placements();
  bool partial = false;
  for (auto& placement : placements) {
    if (placement.is_partial()) placement = Replicate(), partial = true;
  }
  if (partial) {
    grad = grad.redistribute(placements);
    param.mutable_grad() = grad;
  }
  return grad;
}

}  // namespace

at::Tensor clip_grad_norm_(const std::vector<at::Tensor>& parameters, double max_norm, double norm_type,
                           bool error_if_nonfinite) {
  at::NoGradGuard no_grad;
  const bool max_norm_type = std::isinf(norm_type);
  std::vector<Bucket> buckets;
  std::vector<at::Tensor> grads;
  auto accumulate = [&](std::optional<DeviceMesh> mesh, std::vector<int64_t> dims, const at::Tensor& term) {
    for (auto& b : buckets) {
      if (b.mesh == mesh && b.sharded_mesh_dims == dims) {
        b.total = max_norm_type ? at::maximum(b.total, term) : b.total + term;
        return;
      }
    }
    buckets.push_back({std::move(mesh), std::move(dims), term});
  };
  for (auto param : parameters) {
    if (!param.grad().defined()) continue;
    if (!is_dtensor(param.grad())) {
      accumulate(std::nullopt, {}, local_term(param.grad(), norm_type));
    } else {
      DTensor grad = reduced_grad(param);
      std::vector<int64_t> sharded;
      for (size_t d = 0; d < grad.placements().size(); ++d) {
        if (grad.placements()[d].is_shard()) sharded.push_back(static_cast<int64_t>(d));
      }
      accumulate(grad.device_mesh(), sharded, local_term(grad.to_local(), norm_type));
    }
    grads.push_back(param.grad());
  }
  auto total = at::zeros({}, at::kDouble);
  for (auto& b : buckets) {
    for (int64_t d : b.sharded_mesh_dims) {
      b.total = comm::all_reduce(b.total, max_norm_type ? comm::ReduceOp::Max : comm::ReduceOp::Sum,
                                 b.mesh->get_group(d));
    }
    total = max_norm_type ? at::maximum(total, b.total) : total + b.total;
  }
  if (!max_norm_type) total = total.pow(1.0 / norm_type);
  const double value = total.item<double>();
  TORCH_CHECK(!error_if_nonfinite || std::isfinite(value), "clip_grad_norm_: the total norm of order ",
              norm_type, " of the gradients is ", value,
              "; pass error_if_nonfinite=false to clip anyway");
  // The same plain coefficient on every rank; a one-element plain tensor may meet DTensors.
  const double coef = std::min(max_norm / (value + 1e-6), 1.0);
  if (coef < 1.0) {
    for (auto& g : grads) g.mul_(coef);
  }
  return total.to(at::kFloat);
}

}  // namespace dtensor::nn::utils
