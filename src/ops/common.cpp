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
