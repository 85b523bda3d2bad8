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

// One strategy: these input placements and a single output laid out as `out`.
OpStrategy make_strategy(std::vector<Placements> inputs, Placements out);

// Rule options keying the decision cache on the values of these arguments only.
RuleOptions keys(std::vector<int> args);

// The strategy "all inputs and outputs replicated".
OpStrategy all_replicate(const OpCall& call, size_t num_outputs);

// Total number of ranks sharding tensor dim `d` under `p` (product of those mesh dim sizes).
int64_t shards_of_dim(const Placements& p, int64_t d, const DeviceMesh& mesh);

}  // namespace dtensor::ops

namespace dtensor::ops {

// Placements with Partial, and Shard of every dim >= start_dim, replaced by Replicate: the layout
// of an operand whose trailing dims an op needs whole (normalisation, class dims).
Placements replicate_dims_from(const Placements& p, int64_t start_dim);

// Placements of a tensor with tensor dim `dim` removed (Shard(d > dim) -> Shard(d - 1)); `dim`
// itself must not be sharded.
Placements skip_dim(const Placements& p, int64_t dim);

// Metadata of a contiguous tensor.
TensorMeta contiguous_meta(std::vector<int64_t> shape, at::ScalarType dtype);

// This rank's piece (local shape, global offset) of a tensor of `shape` laid out as `p` on `mesh`.
std::pair<std::vector<int64_t>, std::vector<int64_t>> local_piece(
    const DeviceMesh& mesh, const Placements& p, const std::vector<int64_t>& shape);

// Partial(sum) or Partial(avg): what passes through an op that is linear in that operand.
bool sum_like_partial(const Placement& p);

// True when every sharded dim of `shape` splits evenly over the ranks sharding it.
bool evenly_sharded(const Placements& p, const std::vector<int64_t>& shape, const DeviceMesh& mesh);

}  // namespace dtensor::ops

// ---- Shared by the view, indexing and shape families ----------------------------------------

namespace dtensor::ops {

// Spec of a contiguous tensor of `shape` laid out as `p` (candidate layouts in rules).
SpecPtr make_spec(const DeviceMesh& mesh, Placements p, const std::vector<int64_t>& shape,
                  at::ScalarType dtype);

// Every coordinate of `mesh`, row-major.
std::vector<std::vector<int64_t>> mesh_coordinates(const DeviceMesh& mesh);

// Whether, on every mesh coordinate, the block [offset, offset + size) that `in` assigns along
// `in_dim` corresponds to the block `out` assigns along `out_dim`, as judged by
// match(in_offset, in_size, out_offset, out_size). Two empty blocks always correspond. This is
// how a rule proves that each rank's piece of an input *is* its piece of the output (uneven and
// nested shards included) before keeping a shard through an op that moves rows.
bool blocks_match(const DTensorSpec& in, int64_t in_dim, const DTensorSpec& out, int64_t out_dim,
                  const std::function<bool(int64_t, int64_t, int64_t, int64_t)>& match);

// This rank's block of tensor dim `dim` under `spec`: {offset, size}.
std::pair<int64_t, int64_t> local_block(const DTensorSpec& spec, int64_t dim);

// Placements after an op inserts a new dim at `dim`: shard dims at or above it shift up (the
// inverse of skip_dim).
Placements shift_after_insert(const Placements& p, int64_t dim);

// In-place ops must leave `self` (input 0) as it is: the strategies that do, or all of them when
// none does (the dispatcher then reports which redistribution the in-place op would need).
std::vector<OpStrategy> keep_self_placements(const OpCall& call, std::vector<OpStrategy> strategies);

// A local function that runs the op itself with some arguments replaced (rank-dependent offsets,
// local sizes in place of global ones): {argument index, value}.
LocalFn with_args(std::vector<std::pair<int, c10::IValue>> replaced);

// Whether a Partial(sum) made by zero-filling the ranks that do not own a value is exact for
// `dtype` (bool tensors cannot be summed by the collectives).
inline bool summable(at::ScalarType dtype) { return dtype != at::kBool; }

}  // namespace dtensor::ops
