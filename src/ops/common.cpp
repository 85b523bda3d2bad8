#include "ops/common.h"

namespace dtensor::ops {

Placements broadcast_to_input(const Placements& out, const std::vector<int64_t>& out_shape,
                              const std::vector<int64_t>& in_shape) {
  const int64_t offset = static_cast<int64_t>(out_shape.size()) - static_cast<int64_t>(in_shape.size());
  Placements in = out;
  for (auto& p : in) {
    if (!p.is_shard()) continue;
    const int64_t d = p.shard_dim() - offset;
    if (d < 0 || (in_shape[d] == 1 && out_shape[p.shard_dim()] != 1)) p = Replicate{};
    else p = Shard(d);
  }
  return in;
}

Placements broadcast_to_output(const Placements& in, const std::vector<int64_t>& in_shape,
                               const std::vector<int64_t>& out_shape) {
  const int64_t offset = static_cast<int64_t>(out_shape.size()) - static_cast<int64_t>(in_shape.size());
  Placements out = in;
  for (auto& p : out) {
    if (!p.is_shard()) continue;
    const int64_t d = p.shard_dim();
    if (in_shape[d] == 1 && out_shape[d + offset] != 1) p = Replicate{};
    else p = Shard(d + offset);
  }
  return out;
}

std::vector<int64_t> broadcast_shapes(const OpCall& call, const std::vector<size_t>& inputs) {
  std::vector<int64_t> out;
  for (size_t k : inputs) {
    const auto& s = call.input(k).shape();
    if (s.size() > out.size()) out.insert(out.begin(), s.size() - out.size(), 1);
    const size_t off = out.size() - s.size();
    for (size_t i = 0; i < s.size(); ++i)
      if (out[off + i] == 1) out[off + i] = s[i];
  }
  return out;
}

std::vector<OpStrategy> combine_mesh_dims(const std::vector<std::vector<std::vector<Placement>>>& options,
                                          size_t num_inputs, size_t num_outputs) {
  std::vector<OpStrategy> result(1);
  result[0].inputs.assign(num_inputs, Placements());
  result[0].outputs.assign(num_outputs, Placements());
  for (const auto& rows : options) {
    std::vector<OpStrategy> next;
    for (const auto& partial : result) {
      for (const auto& row : rows) {
        OpStrategy s = partial;
        for (size_t k = 0; k < num_inputs; ++k) s.inputs[k].push_back(row[k]);
        for (size_t j = 0; j < num_outputs; ++j) s.outputs[j]->push_back(row[num_inputs + j]);
        next.push_back(std::move(s));
      }
    }
    result = std::move(next);
  }
  return result;
}

OpStrategy make_strategy(std::vector<Placements> inputs, Placements out) {
  OpStrategy s;
  s.inputs = std::move(inputs);
  s.outputs.push_back(std::move(out));
  return s;
}

RuleOptions keys(std::vector<int> args) {
  RuleOptions o;
  o.key_args = std::move(args);
  return o;
}

OpStrategy all_replicate(const OpCall& call, size_t num_outputs) {
  OpStrategy s;
  s.inputs.assign(call.num_inputs(), replicate(call.mesh_ndim()));
  s.outputs.assign(num_outputs, replicate(call.mesh_ndim()));
  return s;
}

int64_t shards_of_dim(const Placements& p, int64_t d, const DeviceMesh& mesh) {
  int64_t n = 1;
  for (size_t m = 0; m < p.size(); ++m)
    if (p[m].is_shard(d)) n *= mesh.size(static_cast<int64_t>(m));
  return n;
}

}  // namespace dtensor::ops

namespace dtensor::ops {

Placements replicate_dims_from(const Placements& p, int64_t start_dim) {
  Placements out = p;
  for (auto& x : out)
    if (x.is_partial() || (x.is_shard() && x.shard_dim() >= start_dim)) x = Replicate{};
  return out;
}

Placements skip_dim(const Placements& p, int64_t dim) {
  Placements out = p;
  for (auto& x : out) {
    if (!x.is_shard()) continue;
    TORCH_INTERNAL_ASSERT(x.shard_dim() != dim, "skip_dim: dim ", dim, " is sharded");
    if (x.shard_dim() > dim) x = Shard(x.shard_dim() - 1);
  }
  return out;
}

TensorMeta contiguous_meta(std::vector<int64_t> shape, at::ScalarType dtype) {
  auto stride = contiguous_strides(shape);
  return TensorMeta{std::move(shape), std::move(stride), dtype};
}

std::pair<std::vector<int64_t>, std::vector<int64_t>> local_piece(
    const DeviceMesh& mesh, const Placements& p, const std::vector<int64_t>& shape) {
  auto spec = DTensorSpec::make(mesh, p, contiguous_meta(shape, at::kFloat));
  return {spec->local_shape(), spec->local_offset()};
}

bool sum_like_partial(const Placement& p) {
  return p.is_partial(comm::ReduceOp::Sum) || p.is_partial(comm::ReduceOp::Avg);
}

bool evenly_sharded(const Placements& p, const std::vector<int64_t>& shape, const DeviceMesh& mesh) {
  for (size_t d = 0; d < shape.size(); ++d)
    if (shape[d] % shards_of_dim(p, static_cast<int64_t>(d), mesh) != 0) return false;
  return true;
}

}  // namespace dtensor::ops

// ---- Shared by the view, indexing and shape families ----------------------------------------

namespace dtensor::ops {

SpecPtr make_spec(const DeviceMesh& mesh, Placements p, const std::vector<int64_t>& shape,
                  at::ScalarType dtype) {
  return DTensorSpec::make(mesh, std::move(p), contiguous_meta(shape, dtype));
}

std::vector<std::vector<int64_t>> mesh_coordinates(const DeviceMesh& mesh) {
  std::vector<std::vector<int64_t>> coords{{}};
  for (int64_t m = 0; m < mesh.ndim(); ++m) {
    std::vector<std::vector<int64_t>> next;
    for (const auto& c : coords)
      for (int64_t i = 0; i < mesh.size(m); ++i) {
        next.push_back(c);
        next.back().push_back(i);
      }
    coords = std::move(next);
  }
  return coords;
}

bool blocks_match(const DTensorSpec& in, int64_t in_dim, const DTensorSpec& out, int64_t out_dim,
                  const std::function<bool(int64_t, int64_t, int64_t, int64_t)>& match) {
  for (const auto& c : mesh_coordinates(in.mesh())) {
    auto [in_shape, in_off] = in.local_shape_and_offset(c);
    auto [out_shape, out_off] = out.local_shape_and_offset(c);
    if (in_shape[in_dim] == 0 && out_shape[out_dim] == 0) continue;
    if (!match(in_off[in_dim], in_shape[in_dim], out_off[out_dim], out_shape[out_dim])) return false;
  }
  return true;
}

std::pair<int64_t, int64_t> local_block(const DTensorSpec& spec, int64_t dim) {
  return {spec.local_offset()[dim], spec.local_shape()[dim]};
}

Placements shift_after_insert(const Placements& p, int64_t dim) {
  Placements out = p;
  for (auto& x : out)
    if (x.is_shard() && x.shard_dim() >= dim) x = Shard(x.shard_dim() + 1);
  return out;
}

std::vector<OpStrategy> keep_self_placements(const OpCall& call, std::vector<OpStrategy> strategies) {
  std::vector<OpStrategy> kept;
  for (auto& s : strategies)
    if (s.inputs[0] == call.input(0).placements()) kept.push_back(std::move(s));
  return kept.empty() ? strategies : kept;
}

LocalFn with_args(std::vector<std::pair<int, c10::IValue>> replaced) {
  return [replaced = std::move(replaced)](const c10::OperatorHandle& op, torch::jit::Stack& stack) {
    const size_t base = stack.size() - op.schema().arguments().size();
    for (const auto& [arg, value] : replaced) stack[base + arg] = value;
    op.callBoxed(&stack);
  };
}

}  // namespace dtensor::ops
