// Moving a local shard from one layout to another on the same mesh (no autograd here: the
// differentiable API is in src/tensor/api.cpp and the op dispatcher redistributes below autograd).
//
// Planning follows PyTorch's greedy planner: walk mesh dims inner -> outer, replicating first any
// mesh dim whose target Shard(d) sits on misaligned or nested sharding of d; then outer -> inner,
// apply the remaining per-mesh-dim transitions. Each transition is one small function in a table
// keyed by (from kind, to kind); see transforms.cpp.
#pragma once

#include <optional>
#include <vector>

#include <ATen/core/Tensor.h>

#include <dtensor/comm.h>
#include <dtensor/spec.h>

namespace dtensor::detail {

struct TransformStep {
  int64_t mesh_dim;
  Placement from;
  Placement to;
};

// The steps from `from`'s placements to `to`, in execution order. Errors for transitions that do
// not exist (Shard -> Partial, Partial(a) -> Partial(b)).
std::vector<TransformStep> plan_redistribute(const DTensorSpec& from, const Placements& to);

// Runs the plan on this rank's local shard (ranks outside the mesh return `local` unchanged).
at::Tensor redistribute_local(const at::Tensor& local, const DTensorSpec& from,
                              const DTensorSpec& to);

// Asynchronous form for single-collective plans; nullopt when the plan needs more than one step
// (the caller then runs it synchronously).
std::optional<comm::Pending> redistribute_local_async(const at::Tensor& local,
                                                      const DTensorSpec& from,
                                                      const DTensorSpec& to);

// Bytes this rank sends for the redistribution, plus a per-collective latency charge; 0 when the
// layouts are equal. Guides the choice between sharding strategies.
double redistribute_cost(const DTensorSpec& from, const Placements& to);

}  // namespace dtensor::detail
