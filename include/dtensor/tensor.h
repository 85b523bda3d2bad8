// DTensor: a torch::Tensor sharded over a DeviceMesh.
//
// A DTensor *is* an at::Tensor: sizes/strides/dtype report the global (logical) tensor, any ATen
// op and torch::nn module accepts it, autograd and torch::optim work on it. Each rank holds its
// local shard; ops run on the shards after the op's sharding rule redistributes them (see
// dtensor/ops/rule.h). `DTensor` is a thin handle adding the DTensor methods.
//
// Autograd of the conversions (PyTorch's rules):
//   from_local   forward: no communication. backward: the gradient is redistributed to the
//                from_local placements, a Partial target counting as Replicate (so a Partial
//                gradient of a Replicate input is all-reduced: ColwiseParallel's input grad).
//   to_local     forward: the local shard. backward: the local gradient is wrapped with
//                grad_placements (default: the forward placements); no communication.
//   redistribute backward: the gradient goes back to the input placements, except that a mesh
//                dim whose input was Partial receives Replicate (no reduction in backward).
#pragma once

#include <optional>
#include <ostream>
#include <vector>

#include <ATen/core/Tensor.h>

#include <dtensor/device_mesh.h>
#include <dtensor/placement.h>
#include <dtensor/spec.h>

namespace dtensor {

bool is_dtensor(const at::Tensor& t);

struct FromLocalOptions {
  bool run_check = false;                              // verify metadata across ranks
  std::optional<std::vector<int64_t>> shape, stride;   // global; both or neither
};
struct RedistributeOptions {
  bool async_op = false;  // the collective completes on first use of the result
};

class DTensor : public at::Tensor {
 public:
  DTensor() = default;
  explicit DTensor(const at::Tensor& t);  // error unless is_dtensor(t)

  static DTensor from_local(const at::Tensor& local, const DeviceMesh& mesh,
                            Placements placements = {} /*all Replicate*/,
                            const FromLocalOptions& options = {});
  at::Tensor to_local(std::optional<Placements> grad_placements = std::nullopt) const;
  DTensor redistribute(const DeviceMesh& mesh, Placements placements,
                       const RedistributeOptions& options = {}) const;
  DTensor redistribute(Placements placements, const RedistributeOptions& options = {}) const;
  at::Tensor full_tensor(std::optional<Placements> grad_placements = std::nullopt) const;
  const DeviceMesh& device_mesh() const;
  const Placements& placements() const;

  // ---- beyond PyTorch's surface ------------------------------------------------------------
  const DTensorSpec& spec() const;
  // The local shard without autograd (what to_local returns under no_grad).
  const at::Tensor& local_tensor() const;
};

// Shards (scatter) or replicates (broadcast) `tensor`, the global tensor, from group rank
// `src_data_rank` of every mesh dim: one scatter per Shard mesh dim and one broadcast per
// Replicate mesh dim; no communication at all when src_data_rank is nullopt (each rank slices
// its own copy). The result is a leaf with tensor's requires_grad. Ranks outside the mesh hold
// empty local tensors; ops on them are local no-ops.
DTensor distribute_tensor(const at::Tensor& tensor, const DeviceMesh& mesh,
                          Placements placements = {}, std::optional<int> src_data_rank = 0);

// Plain tensors mixed with DTensors in one op are an error unless this guard is alive (or the
// plain tensor has one element); then they count as Replicate.
class ImplicitReplicationGuard {
 public:
  ImplicitReplicationGuard();
  ~ImplicitReplicationGuard();
  ImplicitReplicationGuard(const ImplicitReplicationGuard&) = delete;
  ImplicitReplicationGuard& operator=(const ImplicitReplicationGuard&) = delete;
  static bool active();
};

// "DTensor(local=[2, 8], global=[4, 8], placements=[S(0)], mesh=DeviceMesh(...), dtype=Float)"
std::ostream& operator<<(std::ostream& os, const DTensor& t);

}  // namespace dtensor
