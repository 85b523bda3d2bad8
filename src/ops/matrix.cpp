// Matrix products, described by einsum equations ("mk,kn->mn").
//
// Per mesh dim, the candidates are:
//   everything replicated;
//   a dim every operand and the output share (batch, or a free dim of one operand) sharded
//   wherever it appears;
//   a contracted dim sharded on every operand holding it: the output is Partial(sum);
//   one operand Partial(sum), the others replicated: the output stays Partial (products are
//   linear in each operand).
// Mesh dims combine freely; the dispatcher takes the cheapest combination. addmm/baddbmm add a
// bias that follows the product's placements through broadcasting (Replicate becomes Partial
// locally when the product is Partial, so the bias counts once).
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
  for (size_t k = 0; k < n_in; ++k) {
    std::vector<Placement> row(n_in + 1, Replicate{});
    row[k] = Partial("sum");
    row[n_in] = Partial("sum");
    rows.push_back(row);
  }
  return rows;
}

std::vector<OpStrategy> einsum_strategies(const OpCall& call, const Einsum& e) {
  std::vector<std::vector<std::vector<Placement>>> options(call.mesh_ndim(), mesh_dim_options(e));
  return combine_mesh_dims(options, e.inputs.size(), 1);
}

// addmm(self, mat1, mat2) / baddbmm(self, b1, b2): the bias follows the product.
std::vector<OpStrategy> with_bias(const OpCall& call, const Einsum& e) {
  auto products = einsum_strategies(call, e);
  const auto out_shape = [&] {
    std::vector<int64_t> s;
    for (char c : e.output) {
      for (size_t k = 0; k < e.inputs.size(); ++k) {
        auto pos = e.inputs[k].find(c);
        if (pos != std::string::npos) {
          s.push_back(call.input(k + 1).shape()[pos]);
          break;
        }
      }
    }
    return s;
  }();
  for (auto& s : products) {
    s.inputs.insert(s.inputs.begin(), broadcast_to_input(*s.outputs[0], out_shape, call.input(0).shape()));
  }
  return products;
}

Einsum mm_equation() { return {{"mk", "kn"}, "mn"}; }
Einsum bmm_equation() { return {{"bmk", "bkn"}, "bmn"}; }

}  // namespace

DTENSOR_RULES(matrix) {
  RuleOptions no_keys;
  no_keys.key_args = std::vector<int>{};  // beta/alpha scale values only
  register_rule("aten::mm", [](const OpCall& c) { return einsum_strategies(c, mm_equation()); }, no_keys);
  register_rule("aten::bmm", [](const OpCall& c) { return einsum_strategies(c, bmm_equation()); }, no_keys);
  register_rule("aten::dot", [](const OpCall& c) { return einsum_strategies(c, {{"k", "k"}, ""}); }, no_keys);
  register_rule("aten::mv", [](const OpCall& c) { return einsum_strategies(c, {{"mk", "k"}, "m"}); }, no_keys);
  register_rule("aten::addmm", [](const OpCall& c) { return with_bias(c, mm_equation()); }, no_keys);
  register_rule("aten::baddbmm", [](const OpCall& c) { return with_bias(c, bmm_equation()); }, no_keys);
}

}  // namespace dtensor::ops
