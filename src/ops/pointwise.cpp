// Pointwise ops: follow the most sharded operand, broadcasting shard dims to the others.
//
// Each operand in turn proposes its placements (plus "everything replicated"); the dispatcher
// keeps the proposal that moves the fewest bytes. In-place ops keep `self`'s placements, out=
// variants keep `out`'s. Partial operands need the op to be linear in them:
//   additive    add/sub: Partial(sum|avg) operands add up; Replicate operands become Partial
//               locally (no communication), so P + R stays P.
//   scaling     mul/div: one Partial operand (the numerator for div) times Replicate ones.
//   unary       neg, zero_, multiplication by a scalar: Partial passes through.
// Any other op sees Partial operands all-reduced first.
#include "ops/common.h"
#include "ops/pointwise.h"

namespace dtensor::ops {
namespace {

bool partial_passes(Linearity lin, const Placement& p, size_t leader_arg) {
  const auto op = p.reduce_op();
  const bool sum_like = op == comm::ReduceOp::Sum || op == comm::ReduceOp::Avg;
  switch (lin) {
    case Linearity::None:
      return false;
    case Linearity::Additive:
    case Linearity::Unary:
      return sum_like;
    case Linearity::Scaling:
      return sum_like;
    case Linearity::ScalingNumerator:
      return sum_like && leader_arg == 0;
  }
  return false;
}

// The strategy where input `leader` dictates the output placements.
OpStrategy follow(const OpCall& call, size_t leader, const std::vector<int64_t>& out_shape,
                  Linearity lin, size_t num_outputs) {
  const auto& lead = call.input(leader);
  Placements out = broadcast_to_output(lead.placements(), lead.shape(), out_shape);
  for (auto& p : out)
    if (p.is_partial() && !partial_passes(lin, p, call.input_arg(leader))) p = Replicate{};
  OpStrategy s;
  for (size_t k = 0; k < call.num_inputs(); ++k) {
    Placements in = broadcast_to_input(out, out_shape, call.input(k).shape());
    for (size_t m = 0; m < in.size(); ++m) {
      if (!in[m].is_partial()) continue;
      // Scaling ops: only the leader is Partial, the other factors must be whole.
      if ((lin == Linearity::Scaling || lin == Linearity::ScalingNumerator) && k != leader)
        in[m] = Replicate{};
    }
    s.inputs.push_back(std::move(in));
  }
  s.outputs.assign(num_outputs, out);
  return s;
}

size_t count_outputs(const OpCall& call) {
  size_t n = 0;
  for (const auto& r : call.schema().returns())
    if (r.type()->kind() == c10::TypeKind::TensorType) ++n;
  return n;
}

// Index of the input written in place (self for foo_, out for foo.out), or -1.
int written_input(const OpCall& call) {
  const auto& args = call.schema().arguments();
  for (size_t k = 0; k < call.num_inputs(); ++k) {
    const auto* alias = args[call.input_arg(k)].alias_info();
    if (alias != nullptr && alias->isWrite()) return static_cast<int>(k);
  }
  return -1;
}

}  // namespace

std::vector<OpStrategy> pointwise_strategies(const OpCall& call, Linearity lin) {
  const size_t num_outputs = count_outputs(call);
  std::vector<size_t> all(call.num_inputs());
  for (size_t k = 0; k < all.size(); ++k) all[k] = k;
  const int written = written_input(call);
  const auto out_shape = written >= 0 ? call.input(written).shape() : broadcast_shapes(call, all);
  if (written >= 0) return {follow(call, static_cast<size_t>(written), out_shape, lin, num_outputs)};
  std::vector<OpStrategy> strategies;
  for (size_t k = 0; k < call.num_inputs(); ++k) {
    auto s = follow(call, k, out_shape, lin, num_outputs);
    bool seen = false;
    for (const auto& t : strategies) seen = seen || t.outputs == s.outputs;
    if (!seen) strategies.push_back(std::move(s));
  }
  strategies.push_back(all_replicate(call, num_outputs));
  return strategies;
}

void register_pointwise(std::initializer_list<const char*> names, Linearity lin) {
  RuleOptions options;
  options.key_args = std::vector<int>{};  // scalars never change the layout
  register_rule(names, [lin](const OpCall& call) { return pointwise_strategies(call, lin); },
                options);
}

DTENSOR_RULES(pointwise) {
  register_pointwise({"aten::add.Tensor", "aten::add_.Tensor", "aten::add.out", "aten::sub.Tensor",
                      "aten::sub_.Tensor", "aten::sub.out"},
                     Linearity::Additive);
  register_pointwise({"aten::mul.Tensor", "aten::mul_.Tensor", "aten::mul.out"}, Linearity::Scaling);
  register_pointwise({"aten::div.Tensor", "aten::div_.Tensor", "aten::div.out", "aten::div.Tensor_mode"},
                     Linearity::ScalingNumerator);
  register_pointwise({"aten::neg", "aten::neg_", "aten::neg.out", "aten::mul.Scalar", "aten::mul_.Scalar",
                      "aten::div.Scalar", "aten::div_.Scalar", "aten::zero_"},
                     Linearity::Unary);
  register_pointwise(
      {"aten::add.Scalar", "aten::add_.Scalar", "aten::sub.Scalar", "aten::sub_.Scalar", "aten::rsub.Scalar",
       "aten::rsub.Tensor", "aten::abs", "aten::abs_", "aten::exp", "aten::exp_", "aten::log", "aten::log_",
       "aten::sqrt", "aten::sqrt_", "aten::rsqrt", "aten::rsqrt_", "aten::reciprocal", "aten::sin", "aten::cos",
       "aten::sign", "aten::relu", "aten::relu_", "aten::gelu", "aten::silu", "aten::silu_", "aten::sigmoid",
       "aten::tanh", "aten::tanh_", "aten::pow.Tensor_Scalar", "aten::pow.Tensor_Tensor", "aten::pow.Scalar",
       "aten::maximum", "aten::minimum", "aten::where.self", "aten::masked_fill.Scalar",
       "aten::masked_fill.Tensor", "aten::masked_fill_.Scalar", "aten::masked_fill_.Tensor", "aten::eq.Scalar",
       "aten::eq.Tensor", "aten::ne.Scalar", "aten::ne.Tensor", "aten::lt.Scalar", "aten::lt.Tensor",
       "aten::gt.Scalar", "aten::gt.Tensor", "aten::le.Scalar", "aten::le.Tensor", "aten::ge.Scalar",
       "aten::ge.Tensor", "aten::addcmul", "aten::addcmul_", "aten::addcdiv", "aten::addcdiv_",
       "aten::lerp.Scalar", "aten::lerp_.Scalar", "aten::clamp", "aten::clamp_", "aten::clamp_min",
       "aten::clamp_max", "aten::fill_.Scalar", "aten::fill_.Tensor", "aten::logical_not", "aten::logical_and",
       "aten::logical_or", "aten::bitwise_not", "aten::threshold_backward", "aten::gelu_backward",
       "aten::silu_backward", "aten::sigmoid_backward", "aten::tanh_backward"},
      Linearity::None);
}

}  // namespace dtensor::ops
