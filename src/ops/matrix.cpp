// Matrix products, described by einsum equations ("mk,kn->mn").
//
// Per mesh dim, the candidates are:
//   everything replicated;
//   a dim every operand holding it shares (batch, or a free dim of one operand) sharded
//   wherever it appears, the other operands replicated: the output is sharded on it;
//   a contracted dim sharded on every operand holding it: each rank sums its slice of the
//   contraction, so the output is Partial(sum) (uneven slices are fine: both operands cut the
//   contracted dim at the same offsets);
//   one operand Partial(sum) or Partial(avg), the others replicated: the output keeps that
//   Partial (a product is linear in each operand).
// Mesh dims combine freely (nested shards of one dim included); the dispatcher takes the
// cheapest combination. No candidate moves an operand to a layout that splits a dim over more
// ranks than it has elements (PyTorch's is_tensor_shardable; see splits_small_dim).
//
// Ops with a bias, out = beta * self + alpha * product (addmm, addmv, addr, baddbmm, addbmm),
// give `self` the product's placements through broadcasting: a Replicate bias becomes Partial
// locally when the product is Partial (coordinate 0 keeps it for sum, every rank for avg), so it
// counts once; this is RowwiseParallel's R -> P bias. The in-place forms (addmm_ ...) keep
// self's placements.
//
// torch::matmul and torch::nn::functional::linear decompose before reaching us (libtorch 1.13):
// 1-D x 1-D -> dot; 2-D x 1-D -> mv; 1-D x 2-D -> unsqueeze, mm, squeeze_; 2-D x 2-D -> mm
// (linear with a bias: addmm); N-D x 1/2-D -> reshape to 2-D (folding batch dims into rows, so a
// shard of the leading dim survives when it divides evenly), mm/mv, _unsafe_view back; 1/2-D x
// N-D -> the same on the transposed problem; N-D x N-D -> expand + reshape to 3-D, bmm,
// _unsafe_view. The views and reshapes are the view family's rules.
#include "ops/common.h"

namespace dtensor::ops {
namespace {

struct Einsum {
  std::vector<std::string> inputs;
  std::string output;
};

// Candidate rows (input placements..., output placement) for one mesh dim.
std::vector<std::vector<Placement>> mesh_dim_options(const Einsum& e) {
  const size_t n_in = e.inputs.size();
  std::vector<std::vector<Placement>> rows;
  rows.emplace_back(n_in + 1, Replicate{});
  std::string letters;
  for (const auto& s : e.inputs)
    for (char c : s)
      if (letters.find(c) == std::string::npos) letters += c;
  for (char c : letters) {
    std::vector<Placement> row;
    for (const auto& s : e.inputs) {
      auto pos = s.find(c);
      row.push_back(pos == std::string::npos ? Placement(Replicate{}) : Placement(Shard(pos)));
    }
    auto out_pos = e.output.find(c);
    row.push_back(out_pos == std::string::npos ? Placement(Partial("sum")) : Placement(Shard(out_pos)));
    rows.push_back(row);
  }
  for (const char* op : {"sum", "avg"}) {
    for (size_t k = 0; k < n_in; ++k) {
      std::vector<Placement> row(n_in + 1, Replicate{});
      row[k] = Partial(op);
      row[n_in] = Partial(op);
      rows.push_back(row);
    }
  }
  return rows;
}

// The output shape, read off the operands (inputs first_input, first_input + 1, ...).
std::vector<int64_t> output_shape(const OpCall& call, const Einsum& e, size_t first_input) {
  std::vector<int64_t> shape;
  for (char c : e.output) {
    for (size_t k = 0; k < e.inputs.size(); ++k) {
      auto pos = e.inputs[k].find(c);
      if (pos != std::string::npos) {
        shape.push_back(call.input(first_input + k).shape()[pos]);
        break;
      }
    }
  }
  return shape;
}

// Whether moving `operand` to `target` would split one of its dims over more ranks than it has
// elements. Candidates that do are dropped (PyTorch's is_tensor_shardable): the extra ranks would
// hold empty pieces and compute nothing. torch.matmul's 1-D x 2-D case relies on it: it squeezes
// the size-1 row dim of its mm result in place (unsqueeze(0).mm(b).squeeze_(0)), which needs
// that dim whole, and a replicated row must not become Shard(0) just because R -> S is free. An
// operand already laid out so is taken as it is: replicating it would cost a collective, and an
// in-place op cannot move its operand.
bool splits_small_dim(const DTensorSpec& operand, const Placements& target) {
  if (target == operand.placements()) return false;
  for (int64_t d = 0; d < operand.ndim(); ++d) {
    const int64_t shards = shards_of_dim(target, d, operand.mesh());
    if (shards > 1 && shards > operand.shape()[d]) return true;
  }
  return false;
}

// Candidates for the operands (inputs first_input, first_input + 1, ...), with the output
// metadata stated rather than inferred: dot, addbmm and addr have no meta kernel in libtorch 1.13.
// `all_layouts` keeps the candidates that split small dims too (see with_bias).
std::vector<OpStrategy> product(const OpCall& call, const Einsum& e, const TensorMeta& meta,
                                size_t first_input, bool all_layouts = false) {
  std::vector<std::vector<std::vector<Placement>>> options(call.mesh_ndim(), mesh_dim_options(e));
  std::vector<OpStrategy> kept;  // never empty: all-replicate splits nothing
  for (auto& s : combine_mesh_dims(options, e.inputs.size(), 1)) {
    bool splits = false;
    for (size_t k = 0; k < e.inputs.size() && !all_layouts; ++k)
      splits = splits || splits_small_dim(call.input(first_input + k), s.inputs[k]);
    if (splits) continue;
    s.output_meta = std::vector<TensorMeta>{meta};
    kept.push_back(std::move(s));
  }
  return kept;
}

std::vector<OpStrategy> product(const OpCall& call, const Einsum& e) {
  return product(call, e, contiguous_meta(output_shape(call, e, 0), call.input(0).dtype()), 0);
}

// addmm(self, mat1, mat2) and friends: `self` (input 0) follows the product of inputs 1... The
// in-place forms consider every layout: self's is given, and the operands must follow it even
// where it splits a small dim ([5, 3] as Shard(1) over 4 ranks needs mat2 as Shard(1) too).
std::vector<OpStrategy> with_bias(const OpCall& call, const Einsum& e, bool in_place = false) {
  const auto out_shape = output_shape(call, e, 1);
  const auto meta = in_place ? call.input(0).meta() : contiguous_meta(out_shape, call.input(1).dtype());
  auto products = product(call, e, meta, 1, /*all_layouts=*/in_place);
  for (auto& s : products)
    s.inputs.insert(s.inputs.begin(), broadcast_to_input(*s.outputs[0], out_shape, call.input(0).shape()));
  return in_place ? keep_self_placements(call, std::move(products)) : products;
}

Einsum mm_equation() { return {{"mk", "kn"}, "mn"}; }
Einsum bmm_equation() { return {{"bmk", "bkn"}, "bmn"}; }
Einsum mv_equation() { return {{"mk", "k"}, "m"}; }
Einsum outer_equation() { return {{"m", "n"}, "mn"}; }
Einsum addbmm_equation() { return {{"bmk", "bkn"}, "mn"}; }  // the batch is summed too

}  // namespace

DTENSOR_RULES(matrix) {
  RuleOptions no_keys;
  no_keys.key_args = std::vector<int>{};  // beta/alpha are scale values only
  register_rule("aten::mm", [](const OpCall& c) { return product(c, mm_equation()); }, no_keys);
  register_rule("aten::bmm", [](const OpCall& c) { return product(c, bmm_equation()); }, no_keys);
  register_rule("aten::dot", [](const OpCall& c) { return product(c, {{"k", "k"}, ""}); }, no_keys);
  register_rule("aten::mv", [](const OpCall& c) { return product(c, mv_equation()); }, no_keys);
  register_rule("aten::addmm", [](const OpCall& c) { return with_bias(c, mm_equation()); }, no_keys);
  register_rule("aten::addmv", [](const OpCall& c) { return with_bias(c, mv_equation()); }, no_keys);
  register_rule("aten::addr", [](const OpCall& c) { return with_bias(c, outer_equation()); }, no_keys);
  register_rule("aten::baddbmm", [](const OpCall& c) { return with_bias(c, bmm_equation()); }, no_keys);
  register_rule("aten::addbmm", [](const OpCall& c) { return with_bias(c, addbmm_equation()); }, no_keys);
  register_rule("aten::addmm_", [](const OpCall& c) { return with_bias(c, mm_equation(), true); }, no_keys);
  register_rule("aten::addmv_", [](const OpCall& c) { return with_bias(c, mv_equation(), true); }, no_keys);
  register_rule("aten::addr_", [](const OpCall& c) { return with_bias(c, outer_equation(), true); }, no_keys);
  register_rule("aten::baddbmm_", [](const OpCall& c) { return with_bias(c, bmm_equation(), true); }, no_keys);
  register_rule("aten::addbmm_", [](const OpCall& c) { return with_bias(c, addbmm_equation(), true); }, no_keys);
}

}  // namespace dtensor::ops
