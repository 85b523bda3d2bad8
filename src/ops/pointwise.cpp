// Pointwise ops: follow one operand's layout, broadcasting shard dims to the others.
//
// Each operand in turn proposes its placements as the output's (plus "everything replicated");
// the dispatcher keeps the proposal that moves the fewest bytes. Per mesh dim, a leader's
//   Shard(d)   shards the aligned output dim; every operand shards its aligned dim, or is
//              Replicate where it lacks the dim or broadcasts it from size 1;
//   Replicate  makes everything Replicate;
//   Partial(r) passes only where the op commutes with the reduction r (table below); otherwise
//              the leader is reduced first and the output is Replicate.
// In-place ops follow `self` and must keep its placements; out= variants keep `out`'s placements
// and pick, among the proposals, one that produces exactly them.
//
// Which Partials pass (Linearity), with f the op and x_i the per-rank summands:
//   Linear           f jointly linear: f(sum x_i, sum y_i) = sum f(x_i, y_i), likewise for the
//                    mean. Other operands become the same Partial: Replicate -> Partial is local
//                    (coordinate 0 keeps the value, the others hold zero; avg keeps it).
//   Additive         add/sub: Linear; and x - c, x + a*c stay P(max|min) when the Partial is
//                    `self` and the others are Replicate (a shift commutes with max/min).
//   Scaling          mul: linear in each factor separately, so one Partial factor, others whole.
//   ScalingNumerator div and grad_output * f'(x) backward ops: linear in the first operand only.
//   Negation         -max(x_i) = min(-x_i): P(max) <-> P(min); sum/avg are linear.
//   ScalarShift      max(x_i) + c = max(x_i + c), likewise min and avg; not sum (n * c).
//   PositiveScaling  multiplication by a positive constant: sum, avg, max and min all commute.
//   Monotone         f non-decreasing in every operand: f(max_i x_i, y) = max_i f(x_i, y) for a
//                    whole y, likewise min. Only ops non-decreasing on their whole domain.
//   MaxPreserving    maximum(max_i x_i, max_i y_i) = max_i maximum(x_i, y_i): P(max) operands
//                    combine (Replicate -> P(max) keeps the value); P(min) as Monotone.
//   MinPreserving    the mirror image.
//   Copy             the written value is the source: any Partial, the source brought to it.
//   Select           where/masked_fill.Tensor pick one operand per element: any reduction
//                    commutes with that when the condition/mask is whole.
//   ScalarFill       masked_fill with a scalar: the filled value survives avg/max/min, not sum.
//
// Output metadata comes from the op on meta tensors of the global shapes; about a tenth of the
// ops have no meta kernel in libtorch 1.13 (relu, where, isnan, abs, hardtanh...): for them the
// shape is the broadcast shape, the strides those of a meta `add` over the same operands (same
// TensorIterator layout rules) and the dtype that of the op on one-element CPU tensors of the
// same dtypes and ranks (type promotion depends on dtype, rank-0-ness and wrapped scalars only).
#include "ops/pointwise.h"

#include <ATen/ATen.h>

#include "ops/common.h"

namespace dtensor::ops {
namespace {

using comm::ReduceOp;

// A Partial(r) operand passing through the op on one mesh dim.
struct Pass {
  Placement out;        // the output's placement
  bool others_partial;  // the other operands become Partial(r) too; otherwise Replicate
};

bool sum_like(ReduceOp r) { return r == ReduceOp::Sum || r == ReduceOp::Avg; }
bool order_like(ReduceOp r) { return r == ReduceOp::Max || r == ReduceOp::Min; }

std::optional<Pass> partial_pass(Linearity lin, const Placement& p, bool leader_is_first) {
  const ReduceOp r = p.reduce_op();
  switch (lin) {
    case Linearity::None:
      break;
    case Linearity::Linear:
      if (sum_like(r)) return Pass{p, true};
      break;
    case Linearity::Additive:
      if (sum_like(r)) return Pass{p, true};
      if (order_like(r) && leader_is_first) return Pass{p, false};
      break;
    case Linearity::Scaling:
      if (sum_like(r)) return Pass{p, false};
      break;
    case Linearity::ScalingNumerator:
      if (sum_like(r) && leader_is_first) return Pass{p, false};
      break;
    case Linearity::Negation:
      if (sum_like(r)) return Pass{p, true};
      if (r == ReduceOp::Max) return Pass{Partial("min"), false};
      if (r == ReduceOp::Min) return Pass{Partial("max"), false};
      break;
    case Linearity::ScalarShift:
      if (r == ReduceOp::Avg || order_like(r)) return Pass{p, true};
      break;
    case Linearity::PositiveScaling:
      if (sum_like(r) || order_like(r)) return Pass{p, true};
      break;
    case Linearity::Monotone:
      if (order_like(r)) return Pass{p, false};
      break;
    case Linearity::MaxPreserving:
      if (order_like(r)) return Pass{p, r == ReduceOp::Max};
      break;
    case Linearity::MinPreserving:
      if (order_like(r)) return Pass{p, r == ReduceOp::Min};
      break;
    case Linearity::Copy:
    case Linearity::Select:
      return Pass{p, true};
    case Linearity::ScalarFill:
      if (r == ReduceOp::Avg || order_like(r)) return Pass{p, false};
      break;
  }
  return std::nullopt;
}

// The inputs of one call by role.
struct Roles {
  std::vector<size_t> operands;  // inputs the op reads (in-place `self` included)
  std::vector<size_t> written;   // in-place `self` or the out= outputs
  std::vector<bool> fixed;       // per input: a condition/mask, always whole under Select
  bool inplace = false;
  size_t num_outputs = 0;
};

Roles roles_of(const OpCall& call, Linearity lin) {
  Roles roles;
  const auto& args = call.schema().arguments();
  for (size_t k = 0; k < call.num_inputs(); ++k) {
    const auto& arg = args[call.input_arg(k)];
    const auto* alias = arg.alias_info();
    const bool written = alias != nullptr && alias->isWrite();
    if (written) roles.written.push_back(k);
    if (!written || call.input_arg(k) == 0) roles.operands.push_back(k);
    roles.inplace = roles.inplace || (written && call.input_arg(k) == 0);
    roles.fixed.push_back(lin == Linearity::Select && (arg.name() == "condition" || arg.name() == "mask"));
  }
  for (const auto& r : call.schema().returns())
    if (r.type()->kind() == c10::TypeKind::TensorType) ++roles.num_outputs;
  return roles;
}

// Broadcast shape of the operands, with ATen's error for incompatible sizes.
std::vector<int64_t> broadcast_operands(const OpCall& call, const Roles& roles) {
  std::vector<int64_t> out;
  for (size_t k : roles.operands) {
    const auto& s = call.input(k).shape();
    if (s.size() > out.size()) out.insert(out.begin(), s.size() - out.size(), 1);
    const size_t off = out.size() - s.size();
    for (size_t i = 0; i < s.size(); ++i) {
      int64_t& o = out[off + i];
      TORCH_CHECK(o == 1 || s[i] == 1 || o == s[i], "dtensor: ", call.name(), ".", call.overload(),
                  ": the size of '", call.schema().arguments()[call.input_arg(k)].name(), "' (", s[i],
                  ") must match the size of the other operands (", o, ") at non-singleton dimension ",
                  off + i, " (shapes broadcast like in ATen)");
      if (o == 1) o = s[i];
    }
  }
  return out;
}

// The strategy in which input `leader` dictates the output placements. A leader that is an out=
// output (not read) can only carry a Partial that the operands produce by all being that Partial.
std::optional<OpStrategy> follow(const OpCall& call, const Roles& roles, size_t leader,
                                 const std::vector<int64_t>& out_shape, Linearity lin) {
  const auto& lead = call.input(leader);
  const bool leader_reads = std::find(roles.operands.begin(), roles.operands.end(), leader) != roles.operands.end();
  const int64_t mesh_ndim = call.mesh_ndim();
  Placements out = broadcast_to_output(lead.placements(), lead.shape(), out_shape);
  // Per mesh dim: the Partial every operand other than the leader must take, if any.
  std::vector<std::optional<Placement>> others_partial(mesh_ndim);
  Placements lead_in = broadcast_to_input(out, out_shape, lead.shape());
  for (int64_t m = 0; m < mesh_ndim; ++m) {
    if (!out[m].is_partial()) continue;
    const auto pass = roles.fixed[leader] ? std::nullopt
                                          : partial_pass(lin, out[m], call.input_arg(leader) == 0);
    const bool keeps = pass && (!roles.inplace || pass->out == out[m]);
    if (!leader_reads) {
      // out= leader: valid only when the operands, all Partial like it, produce it.
      if (!keeps || !pass->others_partial || pass->out != out[m]) return std::nullopt;
      others_partial[m] = out[m];
      continue;
    }
    if (!keeps) {
      out[m] = lead_in[m] = Replicate{};
      continue;
    }
    if (pass->others_partial) others_partial[m] = out[m];
    out[m] = pass->out;
  }
  OpStrategy s;
  for (size_t k = 0; k < call.num_inputs(); ++k) {
    if (k == leader && leader_reads) {
      s.inputs.push_back(lead_in);
      continue;
    }
    Placements in = broadcast_to_input(out, out_shape, call.input(k).shape());
    for (int64_t m = 0; m < mesh_ndim; ++m) {
      if (!in[m].is_partial()) continue;
      in[m] = others_partial[m] && !roles.fixed[k] ? *others_partial[m] : Placement(Replicate{});
    }
    s.inputs.push_back(std::move(in));
  }
  s.outputs.assign(roles.num_outputs, out);
  return s;
}

int64_t num_shards(const Placements& p) {
  return std::count_if(p.begin(), p.end(), [](const Placement& x) { return x.is_shard(); });
}

at::Tensor meta_of(const DTensorSpec& s, at::ScalarType dtype) {
  return at::empty_strided(s.shape(), s.meta().stride, at::TensorOptions().dtype(dtype).device(at::kMeta));
}

// Plain tensors created from Python-style scalars rank below every dimensioned tensor in type
// promotion; their probes must say so too.
bool wrapped_number(const OpCall& call, size_t k) {
  const auto& a = call.arg(call.input_arg(k));
  return a.isTensor() && a.toTensor().unsafeGetTensorImpl()->is_wrapped_number();
}

// The op's tensor outputs when input k is replaced by make(k).
std::vector<at::Tensor> run_with(const OpCall& call, const std::function<at::Tensor(size_t)>& make) {
  torch::jit::Stack stack;
  size_t k = 0;
  for (size_t i = 0; i < call.num_args(); ++i) {
    const auto& a = call.arg(i);
    if (a.isTensor() && a.toTensor().defined()) {
      stack.emplace_back(make(k++));
    } else if (a.isTensorList()) {
      c10::List<at::Tensor> list;
      for (size_t j = 0; j < a.toTensorList().size(); ++j) list.push_back(make(k++));
      stack.emplace_back(std::move(list));
    } else {
      stack.push_back(a);
    }
  }
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    call.op().callBoxed(&stack);
  }
  std::vector<at::Tensor> outs;
  for (const auto& v : stack)
    if (v.isTensor()) outs.push_back(v.toTensor());
  return outs;
}

std::vector<TensorMeta> metas_of(const std::vector<at::Tensor>& ts) {
  std::vector<TensorMeta> out;
  for (const auto& t : ts) out.push_back(TensorMeta{t.sizes().vec(), t.strides().vec(), t.scalar_type()});
  return out;
}

// Output metadata of a functional pointwise op (see the header comment).
std::vector<TensorMeta> output_metas(const OpCall& call, const Roles& roles,
                                     const std::vector<int64_t>& out_shape) {
  if (!roles.written.empty()) {
    std::vector<TensorMeta> out;
    for (size_t w : roles.written) out.push_back(call.input(w).meta());
    return out;
  }
  try {
    return metas_of(run_with(call, [&](size_t k) {
      auto t = meta_of(call.input(k), call.input(k).dtype());
      if (wrapped_number(call, k)) t.unsafeGetTensorImpl()->set_wrapped_number(true);
      return t;
    }));
  } catch (const c10::NotImplementedError&) {
    // No meta kernel: the probes below.
  }
  std::vector<at::Tensor> probes;
  try {
    probes = run_with(call, [&](size_t k) {
      const auto& s = call.input(k);
      auto t = at::ones(std::vector<int64_t>(s.shape().size(), 1), at::TensorOptions().dtype(s.dtype()));
      if (wrapped_number(call, k)) t.unsafeGetTensorImpl()->set_wrapped_number(true);
      return t;
    });
  } catch (const c10::Error& e) {
    TORCH_CHECK(false, "dtensor: cannot infer the output dtype of ", call.name(), ".", call.overload(),
                " (no meta kernel, and it failed on one-element CPU inputs: ", e.what_without_backtrace(), ")");
  }
  at::Tensor layout;
  for (size_t k : roles.operands) {
    auto t = meta_of(call.input(k), at::kFloat);
    layout = layout.defined() ? at::add(layout, t) : at::neg(t);
  }
  std::vector<TensorMeta> out;
  for (const auto& p : probes) out.push_back(TensorMeta{out_shape, layout.strides().vec(), p.scalar_type()});
  return out;
}

}  // namespace

std::vector<OpStrategy> pointwise_strategies(const OpCall& call, Linearity lin) {
  const Roles roles = roles_of(call, lin);
  const auto out_shape = broadcast_operands(call, roles);
  for (size_t w : roles.written) {
    TORCH_CHECK(call.input(w).shape() == out_shape, "dtensor: ", call.name(), ".", call.overload(),
                " writes into '", call.schema().arguments()[call.input_arg(w)].name(), "' of shape [",
                c10::Join(", ", call.input(w).shape()), "] but the result has the broadcast shape [",
                c10::Join(", ", out_shape), "]; DTensors written in place or as out= are not resized");
  }

  std::vector<OpStrategy> candidates;
  if (roles.inplace) {
    candidates.push_back(*follow(call, roles, roles.written.front(), out_shape, lin));
  } else {
    // Operands with more shards first: on equal cost the rule's order decides.
    std::vector<size_t> leaders = roles.operands;
    std::stable_sort(leaders.begin(), leaders.end(), [&](size_t a, size_t b) {
      return num_shards(call.input(a).placements()) > num_shards(call.input(b).placements());
    });
    if (!roles.written.empty()) leaders.push_back(roles.written.front());
    for (size_t k : leaders)
      if (auto s = follow(call, roles, k, out_shape, lin)) candidates.push_back(std::move(*s));
    candidates.push_back(all_replicate(call, roles.num_outputs));
  }

  std::vector<OpStrategy> strategies;
  for (auto& s : candidates) {
    if (!roles.inplace && !roles.written.empty()) {
      // out=: the outputs keep their placements.
      bool keeps = true;
      for (size_t j = 0; j < roles.written.size(); ++j)
        keeps = keeps && s.outputs[j] == call.input(roles.written[j]).placements();
      if (!keeps) continue;
      for (size_t w : roles.written) s.inputs[w] = call.input(w).placements();
    }
    bool seen = false;
    for (const auto& t : strategies) seen = seen || (t.inputs == s.inputs && t.outputs == s.outputs);
    if (!seen) strategies.push_back(std::move(s));
  }
  if (strategies.empty()) {
    // No proposal produces the out= placements: ask for the reduced layout, which the dispatcher
    // reports as a forbidden redistribution of `out`.
    OpStrategy s = all_replicate(call, roles.num_outputs);
    strategies.push_back(std::move(s));
  }
  const auto metas = output_metas(call, roles, out_shape);
  for (auto& s : strategies) s.output_meta = metas;
  return strategies;
}

void register_pointwise(std::initializer_list<const char*> names, Linearity lin) {
  RuleOptions options;
  options.key_args = std::vector<int>{};  // scalars never change the layout
  register_rule(names, [lin](const OpCall& call) { return pointwise_strategies(call, lin); }, options);
}

namespace {

// torch.special functions (reached from the backward of i0, erfcx... too): each with its out=.
void register_special_functions() {
  for (const char* base :
       {"i1", "i1e", "i0e", "erfcx", "ndtri", "log_ndtr", "entr", "xlog1py", "zeta", "bessel_j0", "bessel_j1",
        "bessel_y0", "bessel_y1", "modified_bessel_i0", "modified_bessel_i1", "modified_bessel_k0",
        "modified_bessel_k1", "scaled_modified_bessel_k0", "scaled_modified_bessel_k1", "spherical_bessel_j0",
        "airy_ai", "chebyshev_polynomial_t", "chebyshev_polynomial_u", "chebyshev_polynomial_v",
        "chebyshev_polynomial_w", "shifted_chebyshev_polynomial_t", "shifted_chebyshev_polynomial_u",
        "shifted_chebyshev_polynomial_v", "shifted_chebyshev_polynomial_w", "hermite_polynomial_h",
        "hermite_polynomial_he", "laguerre_polynomial_l", "legendre_polynomial_p"}) {
    const std::string name = std::string("aten::special_") + base;
    register_pointwise({name.c_str(), (name + ".out").c_str()}, Linearity::None);
  }
  // Scalar operands: xlog1py and zeta take either side as a Scalar, the polynomials their degree.
  register_pointwise({"aten::special_xlog1py.self_scalar", "aten::special_xlog1py.self_scalar_out",
                      "aten::special_xlog1py.other_scalar", "aten::special_xlog1py.other_scalar_out",
                      "aten::special_zeta.self_scalar", "aten::special_zeta.self_scalar_out",
                      "aten::special_zeta.other_scalar", "aten::special_zeta.other_scalar_out"},
                     Linearity::None);
  for (const char* base :
       {"chebyshev_polynomial_t", "chebyshev_polynomial_u", "chebyshev_polynomial_v", "chebyshev_polynomial_w",
        "shifted_chebyshev_polynomial_t", "shifted_chebyshev_polynomial_u", "shifted_chebyshev_polynomial_v",
        "shifted_chebyshev_polynomial_w", "hermite_polynomial_h", "hermite_polynomial_he", "laguerre_polynomial_l",
        "legendre_polynomial_p"}) {
    const std::string name = std::string("aten::special_") + base + ".n_scalar_out";
    register_pointwise({name.c_str()}, Linearity::None);
  }
}

}  // namespace

DTENSOR_RULES(pointwise) {
  register_pointwise({"aten::add.Tensor", "aten::add_.Tensor", "aten::add.out", "aten::sub.Tensor",
                      "aten::sub_.Tensor", "aten::sub.out"},
                     Linearity::Additive);
  register_pointwise({"aten::rsub.Tensor", "aten::rsub.Tensor_out", "aten::mul.Scalar", "aten::mul_.Scalar",
                      "aten::mul.Scalar_out", "aten::div.Scalar", "aten::div_.Scalar", "aten::div.Scalar_out",
                      "aten::lerp.Scalar", "aten::lerp_.Scalar", "aten::lerp.Scalar_out"},
                     Linearity::Linear);
  register_pointwise({"aten::mul.Tensor", "aten::mul_.Tensor", "aten::mul.out"}, Linearity::Scaling);
  // Linear in the first operand: a / b, and backward ops grad_output * f'(input).
  register_pointwise(
      {"aten::div.Tensor", "aten::div_.Tensor", "aten::div.out", "aten::threshold_backward",
       "aten::threshold_backward.grad_input", "aten::gelu_backward", "aten::gelu_backward.grad_input",
       "aten::silu_backward.grad_input", "aten::sigmoid_backward", "aten::sigmoid_backward.grad_input",
       "aten::tanh_backward", "aten::tanh_backward.grad_input", "aten::leaky_relu_backward",
       "aten::leaky_relu_backward.grad_input", "aten::elu_backward", "aten::elu_backward.grad_input",
       "aten::softplus_backward", "aten::softplus_backward.grad_input", "aten::hardtanh_backward",
       "aten::hardtanh_backward.grad_input", "aten::hardsigmoid_backward",
       "aten::hardsigmoid_backward.grad_input", "aten::hardswish_backward", "aten::hardswish_backward.out",
       "aten::logit_backward", "aten::logit_backward.grad_input", "aten::log_sigmoid_backward",
       "aten::log_sigmoid_backward.grad_input", "aten::native_dropout_backward",
       "aten::native_dropout_backward.out", "aten::_masked_scale", "aten::_masked_scale.out"},
      Linearity::ScalingNumerator);
  register_pointwise({"aten::neg", "aten::neg_", "aten::neg.out"}, Linearity::Negation);
  register_pointwise({"aten::add.Scalar", "aten::add_.Scalar", "aten::add.Scalar_out", "aten::sub.Scalar",
                      "aten::sub_.Scalar", "aten::sub.Scalar_out"},
                     Linearity::ScalarShift);
  register_pointwise({"aten::deg2rad", "aten::deg2rad_", "aten::deg2rad.out", "aten::rad2deg",
                      "aten::rad2deg_", "aten::rad2deg.out"},
                     Linearity::PositiveScaling);
  // Non-decreasing on their whole domain (sqrt, log, asin... are not: a Partial summand may lie
  // outside the domain even when the reduced value does not).
  register_pointwise(
      {"aten::exp", "aten::exp_", "aten::exp.out", "aten::exp2", "aten::exp2_", "aten::exp2.out",
       "aten::expm1", "aten::expm1_", "aten::expm1.out", "aten::sigmoid", "aten::sigmoid_",
       "aten::sigmoid.out", "aten::tanh", "aten::tanh_", "aten::tanh.out", "aten::erf", "aten::erf_",
       "aten::erf.out", "aten::atan", "aten::atan_", "aten::atan.out", "aten::asinh", "aten::asinh_",
       "aten::asinh.out", "aten::sinh", "aten::sinh_", "aten::sinh.out", "aten::floor", "aten::floor_",
       "aten::floor.out", "aten::ceil", "aten::ceil_", "aten::ceil.out", "aten::round", "aten::round_",
       "aten::round.out", "aten::round.decimals", "aten::round_.decimals", "aten::round.decimals_out",
       "aten::trunc", "aten::trunc_", "aten::trunc.out", "aten::sign", "aten::sign_", "aten::sign.out",
       "aten::sgn", "aten::sgn_", "aten::sgn.out", "aten::relu", "aten::relu_", "aten::relu.out",
       "aten::hardtanh", "aten::hardtanh_", "aten::hardtanh.out", "aten::hardsigmoid",
       "aten::hardsigmoid_", "aten::hardsigmoid.out", "aten::clamp", "aten::clamp_", "aten::clamp.out",
       "aten::clamp.Tensor", "aten::clamp_.Tensor", "aten::clamp.Tensor_out", "aten::clamp_min",
       "aten::clamp_min_", "aten::clamp_min.out", "aten::clamp_max", "aten::clamp_max_",
       "aten::clamp_max.out", "aten::logaddexp", "aten::logaddexp.out", "aten::logaddexp2",
       "aten::logaddexp2.out"},
      Linearity::Monotone);
  register_pointwise({"aten::maximum", "aten::maximum.out", "aten::fmax", "aten::fmax.out",
                      "aten::clamp_min.Tensor", "aten::clamp_min_.Tensor", "aten::clamp_min.Tensor_out"},
                     Linearity::MaxPreserving);
  register_pointwise({"aten::minimum", "aten::minimum.out", "aten::fmin", "aten::fmin.out",
                      "aten::clamp_max.Tensor", "aten::clamp_max_.Tensor", "aten::clamp_max.Tensor_out"},
                     Linearity::MinPreserving);
  register_pointwise({"aten::where.self", "aten::where.self_out", "aten::masked_fill.Tensor",
                      "aten::masked_fill_.Tensor", "aten::masked_fill.Tensor_out"},
                     Linearity::Select);
  register_pointwise({"aten::masked_fill.Scalar", "aten::masked_fill_.Scalar", "aten::masked_fill.Scalar_out"},
                     Linearity::ScalarFill);
  register_pointwise(
      {// arithmetic
       "aten::rsub.Scalar", "aten::rsub.Scalar_out", "aten::div.Tensor_mode", "aten::div_.Tensor_mode",
       "aten::div.out_mode", "aten::div.Scalar_mode", "aten::div_.Scalar_mode", "aten::div.Scalar_mode_out",
       "aten::floor_divide", "aten::floor_divide_.Tensor", "aten::floor_divide.out", "aten::remainder.Scalar",
       "aten::remainder_.Scalar", "aten::remainder.Scalar_out", "aten::remainder.Tensor",
       "aten::remainder_.Tensor", "aten::remainder.Tensor_out", "aten::remainder.Scalar_Tensor",
       "aten::remainder.Scalar_Tensor_out", "aten::fmod.Scalar", "aten::fmod_.Scalar", "aten::fmod.Scalar_out",
       "aten::fmod.Tensor", "aten::fmod_.Tensor", "aten::fmod.Tensor_out", "aten::pow.Tensor_Scalar",
       "aten::pow_.Scalar", "aten::pow.Tensor_Scalar_out", "aten::pow.Tensor_Tensor", "aten::pow_.Tensor",
       "aten::pow.Tensor_Tensor_out", "aten::pow.Scalar", "aten::pow.Scalar_out", "aten::addcmul",
       "aten::addcmul_", "aten::addcmul.out", "aten::addcdiv", "aten::addcdiv_", "aten::addcdiv.out",
       "aten::lerp.Tensor", "aten::lerp_.Tensor", "aten::lerp.Tensor_out", "aten::abs", "aten::abs_",
       "aten::abs.out", "aten::reciprocal", "aten::reciprocal_", "aten::reciprocal.out", "aten::frac",
       "aten::frac_", "aten::frac.out", "aten::copysign.Tensor", "aten::copysign_.Tensor",
       "aten::copysign.out", "aten::copysign.Scalar", "aten::copysign_.Scalar", "aten::copysign.Scalar_out",
       "aten::hypot", "aten::hypot_", "aten::hypot.out", "aten::atan2", "aten::atan2_", "aten::atan2.out",
       "aten::xlogy.Tensor", "aten::xlogy_.Tensor", "aten::xlogy.OutTensor", "aten::xlogy.Scalar_Self",
       "aten::xlogy.OutScalar_Self", "aten::xlogy.Scalar_Other", "aten::xlogy_.Scalar_Other",
       "aten::xlogy.OutScalar_Other", "aten::heaviside", "aten::heaviside_", "aten::heaviside.out",
       "aten::nextafter", "aten::nextafter_", "aten::nextafter.out", "aten::gcd", "aten::gcd_", "aten::gcd.out",
       "aten::lcm", "aten::lcm_", "aten::lcm.out", "aten::nan_to_num", "aten::nan_to_num_",
       "aten::nan_to_num.out",
       // transcendental
       "aten::sqrt", "aten::sqrt_", "aten::sqrt.out", "aten::rsqrt", "aten::rsqrt_", "aten::rsqrt.out",
       "aten::log", "aten::log_", "aten::log.out", "aten::log2", "aten::log2_", "aten::log2.out",
       "aten::log10", "aten::log10_", "aten::log10.out", "aten::log1p", "aten::log1p_", "aten::log1p.out",
       "aten::sin", "aten::sin_", "aten::sin.out", "aten::cos", "aten::cos_", "aten::cos.out", "aten::tan",
       "aten::tan_", "aten::tan.out", "aten::asin", "aten::asin_", "aten::asin.out", "aten::acos",
       "aten::acos_", "aten::acos.out", "aten::cosh", "aten::cosh_", "aten::cosh.out", "aten::acosh",
       "aten::acosh_", "aten::acosh.out", "aten::atanh", "aten::atanh_", "aten::atanh.out", "aten::sinc",
       "aten::sinc_", "aten::sinc.out", "aten::erfc", "aten::erfc_", "aten::erfc.out", "aten::erfinv",
       "aten::erfinv_", "aten::erfinv.out", "aten::lgamma", "aten::lgamma_", "aten::lgamma.out",
       "aten::digamma", "aten::digamma_", "aten::digamma.out", "aten::polygamma", "aten::polygamma_",
       "aten::polygamma.out", "aten::mvlgamma", "aten::mvlgamma_", "aten::mvlgamma.out", "aten::i0",
       "aten::i0_", "aten::i0.out", "aten::logit", "aten::logit_", "aten::logit.out", "aten::frexp.Tensor",
       "aten::frexp.Tensor_out",
       // activations
       "aten::gelu", "aten::gelu_", "aten::gelu.out", "aten::silu", "aten::silu_", "aten::silu.out",
       "aten::mish", "aten::mish_", "aten::mish.out", "aten::hardswish", "aten::hardswish_",
       "aten::hardswish.out", "aten::elu", "aten::elu_", "aten::elu.out", "aten::celu", "aten::celu_",
       "aten::celu.out", "aten::leaky_relu", "aten::leaky_relu_", "aten::leaky_relu.out", "aten::softplus",
       "aten::softplus.out", "aten::threshold", "aten::threshold_", "aten::threshold.out",
       "aten::log_sigmoid_forward", "aten::log_sigmoid_forward.output",
       // predicates and comparisons
       "aten::isnan", "aten::isnan.out", "aten::isinf", "aten::isinf.out", "aten::isposinf",
       "aten::isposinf.out", "aten::isneginf", "aten::isneginf.out", "aten::signbit", "aten::signbit.out",
       "aten::eq.Scalar", "aten::eq_.Scalar", "aten::eq.Scalar_out", "aten::eq.Tensor", "aten::eq_.Tensor",
       "aten::eq.Tensor_out", "aten::ne.Scalar", "aten::ne_.Scalar", "aten::ne.Scalar_out", "aten::ne.Tensor",
       "aten::ne_.Tensor", "aten::ne.Tensor_out", "aten::lt.Scalar", "aten::lt_.Scalar", "aten::lt.Scalar_out",
       "aten::lt.Tensor", "aten::lt_.Tensor", "aten::lt.Tensor_out", "aten::le.Scalar", "aten::le_.Scalar",
       "aten::le.Scalar_out", "aten::le.Tensor", "aten::le_.Tensor", "aten::le.Tensor_out", "aten::gt.Scalar",
       "aten::gt_.Scalar", "aten::gt.Scalar_out", "aten::gt.Tensor", "aten::gt_.Tensor", "aten::gt.Tensor_out",
       "aten::ge.Scalar", "aten::ge_.Scalar", "aten::ge.Scalar_out", "aten::ge.Tensor", "aten::ge_.Tensor",
       "aten::ge.Tensor_out",
       // logical and bitwise
       "aten::logical_not", "aten::logical_not_", "aten::logical_not.out", "aten::logical_and",
       "aten::logical_and_", "aten::logical_and.out", "aten::logical_or", "aten::logical_or_",
       "aten::logical_or.out", "aten::logical_xor", "aten::logical_xor_", "aten::logical_xor.out",
       "aten::bitwise_not", "aten::bitwise_not_", "aten::bitwise_not.out", "aten::bitwise_and.Tensor",
       "aten::bitwise_and_.Tensor", "aten::bitwise_and.Tensor_out", "aten::bitwise_and.Scalar",
       "aten::bitwise_and.Scalar_out", "aten::bitwise_and.Scalar_Tensor", "aten::bitwise_and.Scalar_Tensor_out",
       "aten::bitwise_or.Tensor", "aten::bitwise_or_.Tensor", "aten::bitwise_or.Tensor_out",
       "aten::bitwise_or.Scalar_out", "aten::bitwise_or.Scalar_Tensor", "aten::bitwise_or.Scalar_Tensor_out",
       "aten::bitwise_xor.Tensor", "aten::bitwise_xor_.Tensor", "aten::bitwise_xor.Tensor_out",
       "aten::bitwise_xor.Scalar_out", "aten::bitwise_xor.Scalar_Tensor", "aten::bitwise_xor.Scalar_Tensor_out",
       "aten::bitwise_left_shift.Tensor", "aten::bitwise_left_shift_.Tensor",
       "aten::bitwise_left_shift.Tensor_out", "aten::bitwise_left_shift.Tensor_Scalar",
       "aten::bitwise_left_shift_.Tensor_Scalar", "aten::bitwise_left_shift.Tensor_Scalar_out",
       "aten::bitwise_left_shift.Scalar_Tensor", "aten::bitwise_left_shift.Scalar_Tensor_out",
       "aten::bitwise_right_shift.Tensor", "aten::bitwise_right_shift_.Tensor",
       "aten::bitwise_right_shift.Tensor_out", "aten::bitwise_right_shift.Tensor_Scalar",
       "aten::bitwise_right_shift_.Tensor_Scalar", "aten::bitwise_right_shift.Tensor_Scalar_out",
       "aten::bitwise_right_shift.Scalar_Tensor", "aten::bitwise_right_shift.Scalar_Tensor_out",
       "aten::__lshift__.Scalar", "aten::__lshift__.Scalar_out", "aten::__lshift__.Tensor",
       "aten::__lshift__.Tensor_out", "aten::__rshift__.Scalar", "aten::__rshift__.Scalar_out",
       "aten::__rshift__.Tensor", "aten::__rshift__.Tensor_out", "aten::__ilshift__.Scalar",
       "aten::__ilshift__.Tensor", "aten::__irshift__.Scalar", "aten::__irshift__.Tensor"},
      Linearity::None);
  register_special_functions();
}

}  // namespace dtensor::ops
