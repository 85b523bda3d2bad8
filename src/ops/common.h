// Helpers shared by the op families' sharding rules.
#pragma once

#include <vector>

#include <dtensor/ops/rule.h>

namespace dtensor::ops {

inline int64_t wrap_dim(int64_t d, int64_t ndim) {
  const int64_t n = std::max<int64_t>(ndim, 1);
  TORCH_CHECK_INDEX(d >= -n && d < n, "dim ", d, " out of range for a tensor of ", ndim, " dims");
  return d < 0 ? d + n : d;
}

// Placements of an input of shape `in_shape` that lines up with an output laid out as `out`
// (shape `out_shape`) under broadcasting: output Shard(d) becomes Shard of the matching input
// dim, or Replicate where the input lacks the dim or broadcasts it from size 1; Partial is kept.
Placements broadcast_to_input(const Placements& out, const std::vector<int64_t>& out_shape,
                              const std::vector<int64_t>& in_shape);

// The inverse: where `in` (an input of shape `in_shape`) shards, the output of shape `out_shape`
// shards the aligned dim.
Placements broadcast_to_output(const Placements& in, const std::vector<int64_t>& in_shape,
                               const std::vector<int64_t>& out_shape);

// Shape broadcasting of every input.
std::vector<int64_t> broadcast_shapes(const OpCall& call, const std::vector<size_t>& inputs);

// Every combination of per-mesh-dim options: options[m] lists candidate rows (one Placement per
// tensor: inputs then outputs) for mesh dim m; the result lists full strategies.
std::vector<OpStrategy> combine_mesh_dims(const std::vector<std::vector<std::vector<Placement>>>& options,
                                          size_t num_inputs, size_t num_outputs);

// The strategy "all inputs and outputs replicated".
OpStrategy all_replicate(const OpCall& call, size_t num_outputs);

// Total number of ranks sharding tensor dim `d` under `p` (product of those mesh dim sizes).
int64_t shards_of_dim(const Placements& p, int64_t d, const DeviceMesh& mesh);

}  // namespace dtensor::ops
