// Pointwise ops on DTensors: every registered overload (functional, in-place, out=) against plain
// tensors, values and gradients, for every input placement on worlds of 2, 3 (uneven) and 4 ranks
// and a 2x2 mesh, with broadcasting and domain-safe inputs; then the Partial placements each op
// family carries without communication, and the dispatcher-level guarantees (no rule for an op
// that never reaches DTensor).
#include <limits>

#include <ATen/core/dispatch/Dispatcher.h>
#include <dtensor/debug/comm_debug_mode.h>
#include <dtensor/dtensor.h>

#include "harness/expect.h"
#include "harness/multiprocess.h"
#include "pointwise_cases.h"

using namespace dtensor;
using dtensor::testing::call_op;
using dtensor::testing::InplacePartial;
using dtensor::testing::NamedArgs;
using dtensor::testing::OpCase;
using dtensor::testing::run_world;
using dtensor::testing::Tensors;
using dtensor::testing::Variants;

namespace {

Variants op(std::string f, std::string i, std::string o, std::vector<std::string> names, Tensors in,
            NamedArgs scalars = {}) {
  Variants v;
  v.functional = std::move(f);
  v.inplace = std::move(i);
  v.out = std::move(o);
  v.tensor_args = std::move(names);
  v.inputs = std::move(in);
  v.scalars = std::move(scalars);
  return v;
}
// aten::name, aten::name_, aten::name.out on `self`.
Variants unary(const std::string& name, const at::Tensor& x, NamedArgs scalars = {}) {
  return op("aten::" + name, "aten::" + name + "_", "aten::" + name + ".out", {"self"}, {x}, std::move(scalars));
}
// In place on a Partial self keeps it; `followers` are brought to the same Partial.
Variants keeps(Variants v, std::vector<size_t> followers = {}) {
  v.inplace_partial = InplacePartial::Keeps;
  v.followers = std::move(followers);
  return v;
}
Variants nograd(Variants v) {
  v.grads = false;
  return v;
}
// Discontinuous in its inputs (equality and zero tests, rounding of quotients): no Partial
// inputs, whose summands reduce to the value only up to rounding.
Variants exact(Variants v) {
  v.grads = false;
  v.partial_inputs = false;
  return v;
}
Variants out_named(Variants v, std::string out_arg) {
  v.out_arg = std::move(out_arg);
  return v;
}
Variants functional_for_dtype(Variants v) {
  v.emit_functional = false;
  return v;
}

struct Inputs {
  at::Tensor x, y, pos, unit, prob, big1, special, g;  // [5, 6]
  at::Tensor a, b, bpos, c, cpos, w, cq, bq, lo, hi;   // broadcasting: [4, 1, 6], [3, 6], [4, 3, 6]
  at::Tensor mask, mask_b, mask_c, s0;                 // bool masks; a 0-dim value
  at::Tensor ints, ints_b, ints_c, small_b, small_c;   // integer operands
};

Inputs make_inputs() {
  at::manual_seed(11);
  Inputs in;
  in.x = at::randn({5, 6});
  in.y = at::randn({5, 6});
  in.g = at::randn({5, 6});
  in.pos = at::rand({5, 6}) + 0.5;
  in.unit = at::rand({5, 6}) * 1.8 - 0.9;
  in.prob = at::rand({5, 6}) * 0.9 + 0.05;
  in.big1 = at::rand({5, 6}) + 1.1;
  in.special = in.x.clone();
  in.special[0][1] = std::numeric_limits<float>::infinity();
  in.special[2][3] = -std::numeric_limits<float>::infinity();
  in.special[4][0] = std::numeric_limits<float>::quiet_NaN();
  in.a = at::randn({4, 1, 6});
  in.b = at::randn({3, 6});
  in.bpos = at::rand({3, 6}) + 0.5;
  in.c = at::randn({4, 3, 6});
  in.cpos = at::rand({4, 3, 6}) + 0.5;
  in.w = at::rand({4, 3, 6});
  in.cq = at::round(at::randn({4, 3, 6}) * 2) / 2;  // many equal entries and zeros
  in.bq = at::round(at::randn({3, 6}) * 2) / 2;
  in.lo = at::randn({3, 6}) - 0.5;
  in.hi = at::randn({4, 1, 6}) + 0.5;
  in.mask = at::rand({5, 6}) > 0.5;
  in.mask_b = at::rand({3, 6}) > 0.5;
  in.mask_c = at::rand({4, 3, 6}) > 0.5;
  in.s0 = at::randn({});
  in.ints = at::randint(-20, 20, {5, 6}, at::kLong);
  in.ints_b = at::randint(1, 9, {3, 6}, at::kLong);
  in.ints_c = at::randint(-20, 20, {4, 3, 6}, at::kLong);
  in.small_b = at::randint(0, 4, {3, 6}, at::kLong);
  in.small_c = at::randint(0, 64, {4, 3, 6}, at::kLong);
  return in;
}

std::vector<Variants> unary_variants(const Inputs& in) {
  std::vector<Variants> v;
  for (const char* name : {"abs", "sign", "exp", "exp2", "expm1", "sin", "cos", "tanh", "sigmoid", "erf",
                           "erfc", "floor", "ceil", "round", "trunc", "frac", "atan", "asinh", "sinh", "cosh",
                           "i0", "sinc", "relu", "hardsigmoid", "hardswish", "mish", "silu"})
    v.push_back(unary(name, in.x));
  for (const char* name : {"tan", "asin", "acos", "atanh", "erfinv"}) v.push_back(unary(name, in.unit));
  for (const char* name : {"sqrt", "rsqrt", "log", "log2", "log10", "log1p", "reciprocal", "lgamma", "digamma"})
    v.push_back(unary(name, in.pos));
  // sgn's backward builds its zero gradient with a factory (at::zeros): a plain tensor, not a DTensor.
  v.push_back(nograd(unary("sgn", in.x)));
  v.push_back(unary("acosh", in.big1));
  v.push_back(unary("logit", in.prob));
  v.push_back(unary("logit", in.prob, {{"eps", 0.1}}));
  v.push_back(keeps(unary("neg", in.x)));
  v.push_back(keeps(unary("deg2rad", in.x)));
  v.push_back(keeps(unary("rad2deg", in.x)));
  v.push_back(unary("nan_to_num", in.special, {{"nan", 0.5}, {"posinf", 9.0}}));
  v.push_back(unary("gelu", in.x, {{"approximate", "tanh"}}));
  v.push_back(unary("gelu", in.x));
  v.push_back(unary("hardtanh", in.x, {{"min_val", -0.5}, {"max_val", 0.7}}));
  v.push_back(unary("elu", in.x, {{"alpha", 0.8}}));
  v.push_back(unary("celu", in.x, {{"alpha", 1.5}}));
  v.push_back(unary("leaky_relu", in.x, {{"negative_slope", 0.2}}));
  v.push_back(unary("threshold", in.x, {{"threshold", 0.1}, {"value", 2.0}}));
  v.push_back(op("aten::softplus", "", "aten::softplus.out", {"self"}, {in.x}, {{"beta", 2}, {"threshold", 5}}));
  v.push_back(unary("clamp", in.x, {{"min", -0.5}, {"max", 0.5}}));
  v.push_back(unary("clamp", in.x, {{"max", 0.3}}));
  v.push_back(unary("clamp_min", in.x, {{"min", 0.1}}));
  v.push_back(unary("clamp_max", in.x, {{"max", -0.1}}));
  v.push_back(op("aten::round.decimals", "aten::round_.decimals", "aten::round.decimals_out", {"self"}, {in.x},
                 {{"decimals", 1}}));
  // mvlgamma's backward builds a plain arange: mixed with DTensors it needs ImplicitReplicationGuard.
  v.push_back(nograd(unary("mvlgamma", in.pos + 1, {{"p", 2}})));
  v.push_back(op("aten::polygamma", "aten::polygamma_", "aten::polygamma.out", {"self"}, {in.pos}, {{"n", 1}}));
  for (const char* name : {"isnan", "isinf", "isposinf", "isneginf", "signbit"})
    v.push_back(nograd(op(std::string("aten::") + name, "", std::string("aten::") + name + ".out", {"self"},
                          {in.special})));
  v.push_back(exact(unary("logical_not", in.cq.flatten(1))));  // x == 0 decides
  v.push_back(unary("bitwise_not", in.ints));
  v.push_back(nograd(op("aten::frexp.Tensor", "", "", {"self"}, {in.x})));
  v.push_back(op("aten::log_sigmoid_forward", "", "", {"self"}, {in.x}));
  return v;
}

std::vector<Variants> scalar_variants(const Inputs& in) {
  std::vector<Variants> v;
  auto ts = [](const std::string& base, const at::Tensor& x, NamedArgs scalars, const std::string& ov = "Scalar") {
    return op("aten::" + base + "." + ov, "aten::" + base + "_." + ov, "aten::" + base + "." + ov + "_out",
              {"self"}, {x}, std::move(scalars));
  };
  v.push_back(ts("add", in.x, {{"other", 1.5}, {"alpha", 2}}));
  v.push_back(ts("sub", in.x, {{"other", 1.5}}));
  v.push_back(op("aten::rsub.Scalar", "", "aten::rsub.Scalar_out", {"self"}, {in.x}, {{"other", 2.0}}));
  v.push_back(keeps(ts("mul", in.x, {{"other", 2.5}})));
  v.push_back(keeps(ts("mul", in.ints, {{"other", 3}})));
  v.push_back(keeps(ts("div", in.x, {{"other", 0.7}})));
  v.push_back(ts("div", in.x, {{"other", 0.7}, {"rounding_mode", "floor"}}, "Scalar_mode"));
  v.push_back(ts("remainder", in.x, {{"other", 0.7}}));
  v.push_back(ts("fmod", in.x, {{"other", 0.7}}));
  v.push_back(ts("copysign", in.x, {{"other", -1.0}}));
  v.push_back(op("aten::pow.Tensor_Scalar", "aten::pow_.Scalar", "aten::pow.Tensor_Scalar_out", {"self"}, {in.x},
                 {{"exponent", 2}}));
  v.push_back(op("aten::pow.Tensor_Scalar", "aten::pow_.Scalar", "aten::pow.Tensor_Scalar_out", {"self"},
                 {in.pos}, {{"exponent", 0.5}}));
  v.push_back(op("aten::pow.Scalar", "", "aten::pow.Scalar_out", {"exponent"}, {in.x}, {{"self", 2.0}}));
  v.push_back(op("aten::remainder.Scalar_Tensor", "", "aten::remainder.Scalar_Tensor_out", {"other"}, {in.pos},
                 {{"self", 2.5}}));
  v.push_back(op("aten::xlogy.Scalar_Other", "aten::xlogy_.Scalar_Other", "aten::xlogy.OutScalar_Other",
                 {"self"}, {in.x}, {{"other", 2.0}}));
  v.push_back(op("aten::xlogy.Scalar_Self", "", "aten::xlogy.OutScalar_Self", {"other"}, {in.pos}, {{"self", 1.5}}));
  for (const char* cmp : {"eq", "ne", "lt", "le", "gt", "ge"})
    v.push_back(exact(ts(cmp, in.cq.flatten(1), {{"other", 0.5}})));
  v.push_back(op("aten::bitwise_and.Scalar", "", "aten::bitwise_and.Scalar_out", {"self"}, {in.ints}, {{"other", 6}}));
  for (const char* name : {"bitwise_or", "bitwise_xor"})  // functional .Scalar decomposes to .Tensor
    v.push_back(op(std::string("aten::") + name + ".Scalar", "", std::string("aten::") + name + ".Scalar_out",
                   {"self"}, {in.ints}, {{"other", 6}}));
  for (const char* name : {"bitwise_and", "bitwise_or", "bitwise_xor"})
    v.push_back(op(std::string("aten::") + name + ".Scalar_Tensor", "",
                   std::string("aten::") + name + ".Scalar_Tensor_out", {"other"}, {in.ints}, {{"self", 5}}));
  for (const char* name : {"bitwise_left_shift", "bitwise_right_shift"}) {
    v.push_back(ts(name, in.ints.abs(), {{"other", 2}}, "Tensor_Scalar"));
    v.push_back(op(std::string("aten::") + name + ".Scalar_Tensor", "",
                   std::string("aten::") + name + ".Scalar_Tensor_out", {"other"}, {in.ints.abs() % 8},
                   {{"self", 100}}));
  }
  v.push_back(op("aten::__lshift__.Scalar", "aten::__ilshift__.Scalar", "aten::__lshift__.Scalar_out", {"self"},
                 {in.ints.abs()}, {{"other", 2}}));
  v.push_back(op("aten::__rshift__.Scalar", "aten::__irshift__.Scalar", "aten::__rshift__.Scalar_out", {"self"},
                 {in.ints.abs()}, {{"other", 1}}));
  v.push_back(op("aten::masked_fill.Scalar", "aten::masked_fill_.Scalar", "aten::masked_fill.Scalar_out",
                 {"self", "mask"}, {in.x, in.mask}, {{"value", -2.0}}));
  return v;
}

std::vector<Variants> tensor_variants(const Inputs& in) {
  std::vector<Variants> v;
  // Broadcasting both ways: [4, 1, 6] with [3, 6] (the functional forms).
  for (const char* name : {"aten::add.Tensor", "aten::sub.Tensor", "aten::mul.Tensor", "aten::maximum",
                           "aten::minimum", "aten::atan2", "aten::hypot"}) {
    v.push_back(op(name, "", "", {"self", "other"}, {in.a, in.b}));
  }
  v.push_back(op("aten::div.Tensor", "", "", {"self", "other"}, {in.a, in.bpos}));
  v.push_back(op("aten::where.self", "", "", {"condition", "self", "other"}, {in.mask_b, in.a, in.s0}));

  // Self of the result's shape [4, 3, 6], other broadcast from [3, 6]: all three variants.
  auto bin = [](const std::string& base, const std::string& ov, const std::string& out_ov, const at::Tensor& s,
                const at::Tensor& o, NamedArgs scalars = {}, const std::string& other = "other") {
    const std::string dot = ov.empty() ? "" : "." + ov;
    return op("aten::" + base + dot, "aten::" + base + "_" + dot, "aten::" + base + "." + out_ov, {"self", other},
              {s, o}, std::move(scalars));
  };
  v.push_back(keeps(bin("add", "Tensor", "out", in.c, in.b, {{"alpha", 2}}), {1}));
  v.push_back(keeps(bin("sub", "Tensor", "out", in.c, in.b, {{"alpha", 0.5}}), {1}));
  v.push_back(keeps(bin("mul", "Tensor", "out", in.c, in.b)));
  v.push_back(keeps(bin("div", "Tensor", "out", in.c, in.bpos)));
  v.push_back(exact(bin("div", "Tensor_mode", "out_mode", in.c, in.bpos, {{"rounding_mode", "trunc"}})));
  v.push_back(exact(bin("div", "Tensor_mode", "out_mode", in.c, in.bpos, {{"rounding_mode", "floor"}})));
  v.push_back(op("aten::rsub.Tensor", "", "aten::rsub.Tensor_out", {"self", "other"}, {in.c, in.b}, {{"alpha", 3}}));
  for (const char* name : {"maximum", "minimum", "fmax", "fmin", "logaddexp", "logaddexp2"})
    v.push_back(op(std::string("aten::") + name, "", std::string("aten::") + name + ".out", {"self", "other"},
                   {in.c, in.b}));
  v.push_back(bin("clamp_min", "Tensor", "Tensor_out", in.c, in.b, {}, "min"));
  v.push_back(bin("clamp_max", "Tensor", "Tensor_out", in.c, in.b, {}, "max"));
  v.push_back(bin("atan2", "", "out", in.c, in.b));
  v.push_back(bin("hypot", "", "out", in.c, in.b));
  v.push_back(bin("pow", "Tensor", "Tensor_Tensor_out", in.cpos, in.b, {}, "exponent"));
  v.back().functional = "aten::pow.Tensor_Tensor";
  v.push_back(bin("remainder", "Tensor", "Tensor_out", in.c, in.bpos));
  v.push_back(bin("fmod", "Tensor", "Tensor_out", in.c, in.bpos));
  // copysign's gradient for `other` is a factory-made zero tensor: plain, not a DTensor.
  v.push_back(nograd(bin("copysign", "Tensor", "out", in.c, in.b)));
  v.push_back(bin("xlogy", "Tensor", "OutTensor", in.c, in.bpos));
  v.push_back(exact(bin("heaviside", "", "out", in.cq, in.b, {}, "values")));  // self == 0 decides
  v.push_back(nograd(bin("nextafter", "", "out", in.c, in.b)));
  v.push_back(exact(op("aten::floor_divide", "aten::floor_divide_.Tensor", "aten::floor_divide.out",
                       {"self", "other"}, {in.c, in.bpos})));
  for (const char* cmp : {"eq", "ne", "lt", "le", "gt", "ge"})
    v.push_back(exact(bin(cmp, "Tensor", "Tensor_out", in.cq, in.bq)));
  for (const char* name : {"logical_and", "logical_or", "logical_xor"})
    v.push_back(exact(bin(name, "", "out", in.cq, in.bq)));
  for (const char* name : {"bitwise_and", "bitwise_or", "bitwise_xor"})
    v.push_back(bin(name, "Tensor", "Tensor_out", in.ints_c, in.ints_b));
  for (const char* name : {"bitwise_left_shift", "bitwise_right_shift"})
    v.push_back(bin(name, "Tensor", "Tensor_out", in.small_c, in.small_b));
  v.push_back(op("aten::__lshift__.Tensor", "aten::__ilshift__.Tensor", "aten::__lshift__.Tensor_out",
                 {"self", "other"}, {in.small_c, in.small_b}));
  v.push_back(op("aten::__rshift__.Tensor", "aten::__irshift__.Tensor", "aten::__rshift__.Tensor_out",
                 {"self", "other"}, {in.small_c, in.small_b}));
  v.push_back(bin("gcd", "", "out", in.ints_c, in.ints_b));
  v.push_back(bin("lcm", "", "out", in.ints_c, in.ints_b));
  v.push_back(bin("remainder", "Tensor", "Tensor_out", in.ints_c, in.ints_b));
  v.push_back(op("aten::floor_divide", "aten::floor_divide_.Tensor", "aten::floor_divide.out", {"self", "other"},
                 {in.ints_c, in.ints_b}));

  // Three operands.
  v.push_back(op("aten::where.self", "", "aten::where.self_out", {"condition", "self", "other"},
                 {in.mask_c, in.c, in.b}));
  // The gradient of masked_fill's value is masked_select(grad, mask).sum(): data-dependent shape.
  v.push_back(nograd(keeps(op("aten::masked_fill.Tensor", "aten::masked_fill_.Tensor", "aten::masked_fill.Tensor_out",
                              {"self", "mask", "value"}, {in.c, in.mask_b, in.s0}),
                           {2})));
  v.push_back(keeps(op("aten::lerp.Scalar", "aten::lerp_.Scalar", "aten::lerp.Scalar_out", {"self", "end"},
                       {in.c, in.b}, {{"weight", 0.3}}),
                    {1}));
  v.push_back(op("aten::lerp.Tensor", "aten::lerp_.Tensor", "aten::lerp.Tensor_out", {"self", "end", "weight"},
                 {in.c, in.b, in.w}));
  v.push_back(op("aten::addcmul", "aten::addcmul_", "aten::addcmul.out", {"self", "tensor1", "tensor2"},
                 {in.c, in.a, in.b}, {{"value", 0.5}}));
  v.push_back(op("aten::addcdiv", "aten::addcdiv_", "aten::addcdiv.out", {"self", "tensor1", "tensor2"},
                 {in.c, in.a, in.bpos}, {{"value", -2}}));
  v.push_back(op("aten::clamp.Tensor", "aten::clamp_.Tensor", "aten::clamp.Tensor_out", {"self", "min", "max"},
                 {in.c, in.lo, in.hi}));
  return v;
}

// Backward kernels called directly: linear in grad_output, so a Partial gradient passes.
std::vector<Variants> backward_variants(const Inputs& in) {
  std::vector<Variants> v;
  auto bwd = [](const std::string& name, const std::string& out_ov, std::vector<std::string> names, Tensors t,
                NamedArgs scalars = {}) {
    return nograd(out_named(op("aten::" + name, "", "aten::" + name + "." + out_ov, std::move(names), std::move(t),
                               std::move(scalars)),
                            out_ov == "out" ? "out" : "grad_input"));
  };
  const std::vector<std::string> gs{"grad_output", "self"};
  v.push_back(bwd("threshold_backward", "grad_input", gs, {in.g, in.x}, {{"threshold", 0.1}}));
  v.push_back(bwd("gelu_backward", "grad_input", gs, {in.g, in.x}));
  v.push_back(bwd("gelu_backward", "grad_input", gs, {in.g, in.x}, {{"approximate", "tanh"}}));
  v.push_back(functional_for_dtype(bwd("silu_backward", "grad_input", gs, {in.g, in.x})));
  v.push_back(bwd("sigmoid_backward", "grad_input", {"grad_output", "output"}, {in.g, at::sigmoid(in.x)}));
  v.push_back(bwd("tanh_backward", "grad_input", {"grad_output", "output"}, {in.g, at::tanh(in.x)}));
  v.push_back(bwd("leaky_relu_backward", "grad_input", gs, {in.g, in.x},
                  {{"negative_slope", 0.2}, {"self_is_result", false}}));
  v.push_back(bwd("elu_backward", "grad_input", {"grad_output", "self_or_result"}, {in.g, in.x},
                  {{"alpha", 1.0}, {"scale", 1.0}, {"input_scale", 1.0}, {"is_result", false}}));
  v.push_back(bwd("softplus_backward", "grad_input", gs, {in.g, in.x}, {{"beta", 1}, {"threshold", 20}}));
  v.push_back(bwd("hardtanh_backward", "grad_input", gs, {in.g, in.x}, {{"min_val", -0.5}, {"max_val", 0.5}}));
  v.push_back(bwd("hardsigmoid_backward", "grad_input", gs, {in.g, in.x}));
  v.push_back(bwd("hardswish_backward", "out", gs, {in.g, in.x}));
  v.push_back(bwd("logit_backward", "grad_input", gs, {in.g, in.prob}));
  const auto buffer = std::get<1>(at::log_sigmoid_forward(in.x));
  v.push_back(bwd("log_sigmoid_backward", "grad_input", {"grad_output", "self", "buffer"}, {in.g, in.x, buffer}));
  v.push_back(bwd("native_dropout_backward", "out", {"grad_output", "mask"}, {in.g, in.mask}, {{"scale", 2.0}}));
  return v;
}

// torch.special functions (all None-linearity pointwise) with their out= forms.
std::vector<Variants> special_variants(const Inputs& in) {
  std::vector<Variants> v;
  auto sp = [](const std::string& base, Tensors t, std::vector<std::string> names = {"self"}, NamedArgs scalars = {}) {
    return op("aten::special_" + base, "", "aten::special_" + base + ".out", std::move(names), std::move(t),
              std::move(scalars));
  };
  for (const char* base : {"i1", "i1e", "i0e", "erfcx", "log_ndtr"}) v.push_back(sp(base, {in.x}));
  v.push_back(sp("ndtri", {in.prob}));
  v.push_back(sp("entr", {in.pos}));
  for (const char* base : {"bessel_j0", "bessel_j1", "modified_bessel_i0", "modified_bessel_i1"})
    v.push_back(nograd(sp(base, {in.x})));
  for (const char* base : {"spherical_bessel_j0", "airy_ai"}) v.push_back(nograd(sp(base, {in.x}, {"x"})));
  for (const char* base : {"bessel_y0", "bessel_y1", "modified_bessel_k0", "modified_bessel_k1"})
    v.push_back(nograd(sp(base, {in.pos})));
  for (const char* base : {"scaled_modified_bessel_k0", "scaled_modified_bessel_k1"})
    v.push_back(nograd(sp(base, {in.pos}, {"x"})));
  v.push_back(sp("xlog1py", {in.c, in.bpos}, {"self", "other"}));
  v.push_back(op("aten::special_xlog1py.self_scalar", "", "aten::special_xlog1py.self_scalar_out", {"other"},
                 {in.pos}, {{"self", 1.5}}));
  v.push_back(op("aten::special_xlog1py.other_scalar", "", "aten::special_xlog1py.other_scalar_out", {"self"},
                 {in.x}, {{"other", 0.5}}));
  v.push_back(nograd(sp("zeta", {in.cpos + 1, in.bpos}, {"self", "other"})));
  v.push_back(nograd(op("aten::special_zeta.other_scalar", "", "aten::special_zeta.other_scalar_out", {"self"},
                        {in.big1 + 0.5}, {{"other", 2.0}})));
  v.push_back(nograd(op("aten::special_zeta.self_scalar", "", "aten::special_zeta.self_scalar_out", {"other"},
                        {in.pos}, {{"self", 3.0}})));
  const auto degrees = at::randint(0, 5, {3, 6}, at::kLong).to(at::kFloat);
  for (const char* base : {"chebyshev_polynomial_t", "legendre_polynomial_p", "hermite_polynomial_he"})
    v.push_back(exact(sp(base, {in.c.clamp(-1, 1), degrees}, {"x", "n"})));  // integral degrees
  v.push_back(nograd(op("aten::special_hermite_polynomial_h.n_scalar", "", "aten::special_hermite_polynomial_h.n_scalar_out",
                        {"x"}, {in.unit}, {{"n", 3}})));
  return v;
}

// Composite ops that reach DTensor decomposed (type promotion through wrapped scalars included).
std::vector<OpCase> composite_cases(const Inputs& in) {
  auto f = [](std::string name, Tensors t, std::function<at::Tensor(const Tensors&)> fn, bool grads = true) {
    OpCase c;
    c.name = std::move(name);
    c.inputs = std::move(t);
    c.fn = [fn](const Tensors& x) { return Tensors{fn(x)}; };
    c.check_grads = grads;
    return c;
  };
  return {
      f("square", {in.x}, [](const Tensors& x) { return at::square(x[0]); }),
      f("relu6", {in.x}, [](const Tensors& x) { return at::relu6(x[0] * 4); }),
      f("log_sigmoid", {in.x}, [](const Tensors& x) { return at::log_sigmoid(x[0]); }),
      f("isfinite", {in.special}, [](const Tensors& x) { return at::isfinite(x[0]); }, false),
      f("clip", {in.x}, [](const Tensors& x) { return at::clip(x[0], -0.2, 0.4); }),
      f("true_divide", {in.c, in.bpos}, [](const Tensors& x) { return at::true_divide(x[0], x[1]); }),
      f("float_power", {in.pos, in.y}, [](const Tensors& x) { return at::float_power(x[0], 2.0) + at::float_power(x[1], 3); }),
      f("max.other", {in.c, in.b}, [](const Tensors& x) { return at::max(x[0], x[1]); }),
      f("where.ScalarOther", {in.mask, in.x}, [](const Tensors& x) { return at::where(x[0], x[1], 2.5); }),
      f("where.ScalarSelf int", {in.mask, in.ints}, [](const Tensors& x) { return at::where(x[0], 0.5, x[1]); }),
      f("where.Scalar", {in.mask}, [](const Tensors& x) { return at::where(x[0], 1.5, -1); }),
      f("silu+mish (backward decomposes)", {in.x}, [](const Tensors& x) { return at::silu(x[0]) * at::mish(x[0]); }),
      f("int * float scalar", {in.ints}, [](const Tensors& x) { return x[0] * 2.5 + x[0] / 4; }, false),
      f("float + double", {in.x, in.y.to(at::kDouble)}, [](const Tensors& x) { return x[0] + x[1]; }),
      f("float [4,3,6] * 0-dim double", {in.c, in.s0.to(at::kDouble)}, [](const Tensors& x) { return x[0] * x[1]; }),
      f("bool mask arithmetic", {in.mask, in.x}, [](const Tensors& x) { return x[0] * x[1] + x[0]; }),
  };
}

std::vector<OpCase> pointwise_cases() {
  const Inputs in = make_inputs();
  std::vector<OpCase> cases;
  for (const auto& list : {unary_variants(in), scalar_variants(in), tensor_variants(in), backward_variants(in),
                           special_variants(in)})
    for (const auto& v : list) dtensor::testing::add_variants(cases, v);
  for (auto& c : composite_cases(in)) cases.push_back(std::move(c));
  return cases;
}

void run_pointwise_table(int world, size_t max_1d, size_t max_2d) {
  run_world(world, [=](int) {
    const int64_t n = dtensor::testing::run_op_table("pointwise", world, pointwise_cases(), max_1d, max_2d);
    EXPECT_GT(n, 0);
  });
}

// Partial(r) DTensor whose reduction over the mesh is `full`: per-rank values that reduce to it.
DTensor partial_of(const at::Tensor& full, const DeviceMesh& mesh, const std::string& op, int salt = 0) {
  const int64_t rank = mesh.get_coordinate()->at(0), n = mesh.size(0);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(77 + salt);
  auto noise = at::rand(full.sizes(), gen) + 0.1;  // same on every rank
  at::Tensor local;
  if (op == "sum") local = rank == 0 ? full - noise * (n - 1) : noise;
  else if (op == "avg") local = rank == 0 ? full - noise * (n - 1) : full + noise;  // mean is full
  else if (op == "max") local = rank == 1 ? full : full - noise * (rank + 1);
  else if (op == "min") local = rank == 1 ? full : full + noise * (rank + 1);
  return DTensor::from_local(local, mesh, {Partial(op)});
}

// Outputs whose placements are checked where they are produced and whose values afterwards
// (full_tensor communicates, which must stay out of the counted region).
struct LayoutChecks {
  struct Item {
    std::string what;
    DTensor out;
    at::Tensor expected;
  };
  std::vector<Item> items;
  void expect(const at::Tensor& out, const Placement& p, const at::Tensor& expected, const std::string& what) {
    ASSERT_TRUE(is_dtensor(out)) << what;
    EXPECT_EQ(DTensor(out).placements(), Placements{p}) << what;
    items.push_back({what, DTensor(out), expected});
  }
  void check_values() const {
    for (const auto& i : items)
      EXPECT_TRUE(at::allclose(i.out.full_tensor(), i.expected, 1e-5, 1e-6)) << i.what;
  }
};

}  // namespace

TEST(PointwiseOpTable, World2) { run_pointwise_table(2, 64, 0); }
TEST(PointwiseOpTable, World3) { run_pointwise_table(3, 16, 0); }
TEST(PointwiseOpTable, World4And2x2) { run_pointwise_table(4, 6, 6); }

// Each family's Partial algebra: which Partials pass without communication, with the values of
// the reduced result.
TEST(PointwisePartial, CarriedWithoutCommunication) {
  run_world(3, [](int) {
    auto mesh = init_device_mesh("cpu", {3});
    at::manual_seed(5);
    const auto v = at::randn({4, 6}), r = at::randn({4, 6}), mask = at::rand({4, 6}) > 0.5;
    auto R = distribute_tensor(r, mesh, {Replicate()});
    auto M = distribute_tensor(mask, mesh, {Replicate()});
    auto pmax = partial_of(v, mesh, "max"), pmin = partial_of(v, mesh, "min"), psum = partial_of(v, mesh, "sum"),
         pavg = partial_of(v, mesh, "avg");
    auto rmin = partial_of(r, mesh, "min", 1), rsum = partial_of(r, mesh, "sum", 2), rsum3 = partial_of(r, mesh, "sum", 3);
    LayoutChecks c;
    {
      debug::CommDebugMode comm;
      c.expect(at::exp(pmax), Partial("max"), at::exp(v), "exp(P(max))");
      c.expect(at::relu(pmin), Partial("min"), at::relu(v), "relu(P(min))");
      c.expect(at::clamp(pmax, -0.3, 0.4), Partial("max"), at::clamp(v, -0.3, 0.4), "clamp(P(max))");
      c.expect(at::neg(pmax), Partial("min"), -v, "neg(P(max))");
      c.expect(at::neg(psum), Partial("sum"), -v, "neg(P(sum))");
      c.expect(pmax + 1.5, Partial("max"), v + 1.5, "P(max) + scalar");
      c.expect(pavg - 1.5, Partial("avg"), v - 1.5, "P(avg) - scalar");
      c.expect(pmax - R, Partial("max"), v - r, "P(max) - R");
      c.expect(psum + R, Partial("sum"), v + r, "P(sum) + R");
      c.expect(R - psum, Partial("sum"), r - v, "R - P(sum)");
      c.expect(psum * R, Partial("sum"), v * r, "P(sum) * R");
      c.expect(R * pavg, Partial("avg"), r * v, "R * P(avg)");
      c.expect(psum / 4, Partial("sum"), v / 4, "P(sum) / scalar");
      c.expect(psum / (R.abs() + 1), Partial("sum"), v / (r.abs() + 1), "P(sum) / R");
      c.expect(at::maximum(pmax, R), Partial("max"), at::maximum(v, r), "maximum(P(max), R)");
      c.expect(at::maximum(pmin, R), Partial("min"), at::maximum(v, r), "maximum(P(min), R)");
      c.expect(at::minimum(pmin, rmin), Partial("min"), at::minimum(v, r), "minimum(P(min), P(min))");
      c.expect(at::deg2rad(pmin), Partial("min"), at::deg2rad(v), "deg2rad(P(min))");
      c.expect(at::where(M, psum, rsum), Partial("sum"), at::where(mask, v, r), "where(R, P(sum), P(sum))");
      c.expect(at::where(M, pmax, R), Partial("max"), at::where(mask, v, r), "where(R, P(max), R)");
      c.expect(at::masked_fill(pmax, M, -3.0), Partial("max"), at::masked_fill(v, mask, -3.0),
               "masked_fill(P(max), scalar)");
      c.expect(at::threshold_backward(psum, R, 0.0), Partial("sum"), at::threshold_backward(v, r, 0.0),
               "threshold_backward(P(sum), R)");
      c.expect(at::lerp(psum, rsum3, 0.25), Partial("sum"), at::lerp(v, r, 0.25), "lerp(P(sum), P(sum), scalar)");
      c.expect(psum.clone(), Partial("sum"), v, "clone(P(sum))");
      c.expect(pmax.to(at::kDouble), Partial("max"), v.to(at::kDouble), "P(max) to double");
      c.expect(psum.to(at::kDouble), Partial("sum"), v.to(at::kDouble), "P(sum) to double");
      c.expect(at::zeros_like(psum), Replicate(), at::zeros_like(v), "zeros_like(P(sum))");
      auto y = psum.clone();
      y.mul_(3).add_(R).neg_();
      c.expect(y, Partial("sum"), -(v * 3 + r), "P(sum).mul_(3).add_(R).neg_()");
      EXPECT_EQ(comm.get_total_counts(), 0) << "Partial-preserving ops communicated";
    }
    c.check_values();
  });
}

TEST(PointwisePartial, ReducedWhenTheOpDoesNotCommute) {
  run_world(2, [](int) {
    auto mesh = init_device_mesh("cpu", {2});
    at::manual_seed(6);
    const auto v = at::randn({4, 6}), r = at::randn({4, 6});
    auto R = distribute_tensor(r, mesh, {Replicate()});
    auto psum = partial_of(v, mesh, "sum"), pmax = partial_of(v, mesh, "max");
    auto pmax_pos = partial_of(v.abs() + 0.1, mesh, "max");
    struct Case {
      const char* what;
      std::function<at::Tensor()> run;
      at::Tensor expected;
      Placement placement = Replicate();
    };
    const std::vector<Case> cases{
        {"exp(P(sum))", [&] { return at::exp(psum); }, at::exp(v)},
        {"P(sum) + scalar", [&] { return psum + 1.0; }, v + 1.0},
        {"P(sum) * P(sum): one factor reduced", [&] { return psum * psum; }, v * v, Partial("sum")},
        {"R / P(sum)", [&] { return R / psum; }, r / v},
        {"R - P(max) (the Partial is not self)", [&] { return R - pmax; }, r - v},
        {"P(max) * R", [&] { return pmax * R; }, v * r},
        {"sqrt(P(max)) (not monotone on its whole domain)", [&] { return at::sqrt(pmax_pos); }, at::sqrt(v.abs() + 0.1)},
        {"masked_fill(P(sum), scalar)", [&] { return at::masked_fill(psum, R > 0, 1.0); }, at::masked_fill(v, r > 0, 1.0)},
        {"P(sum) to int", [&] { return (psum * 10).to(at::kInt); }, (v * 10).to(at::kInt)},
    };
    for (const auto& c : cases) {
      int64_t count = 0;
      DTensor out;
      {
        debug::CommDebugMode comm;
        out = DTensor(c.run());
        count = comm.get_total_counts();
      }
      EXPECT_EQ(count, 1) << c.what << ": one all_reduce expected";
      EXPECT_EQ(out.placements(), Placements{c.placement}) << c.what;
      EXPECT_TRUE(at::allclose(out.full_tensor(), c.expected, 1e-5, 1e-5)) << c.what;
    }
  });
}

TEST(PointwiseErrors, InPlaceAndOutKeepTheirPlacements) {
  run_world(2, [](int) {
    auto mesh = init_device_mesh("cpu", {2});
    at::manual_seed(7);
    auto psum = partial_of(at::randn({4, 6}), mesh, "sum");
    auto s = distribute_tensor(at::randn({4, 6}), mesh, {Shard(0)});
    auto r = distribute_tensor(at::randn({4, 6}), mesh, {Replicate()});
    EXPECT_THROW_MSG(psum.exp_(), c10::Error, "in place");
    EXPECT_THROW_MSG(psum.add_(s), c10::Error, "reachable");
    auto out_small = distribute_tensor(at::empty({3, 6}), mesh, {Replicate()});
    EXPECT_THROW_MSG(at::add_out(out_small, s, r), c10::Error, "are not resized");
    auto pout = partial_of(at::zeros({4, 6}), mesh, "sum");
    EXPECT_THROW_MSG(at::maximum_out(pout, s, r), c10::Error, "'out' in place");
    EXPECT_THROW_MSG(at::add(s, distribute_tensor(at::randn({5, 6}), mesh, {Shard(0)})), c10::Error,
                     "must match the size");
    // out= into a sharded out from replicated operands: computed on each shard.
    auto out = distribute_tensor(at::empty({4, 6}), mesh, {Shard(1)});
    {
      debug::CommDebugMode comm;
      at::mul_out(out, r, r);
      EXPECT_EQ(comm.get_total_counts(), 0);
    }
    EXPECT_EQ(DTensor(out).placements(), Placements{Shard(1)});
    EXPECT_TRUE(at::allclose(DTensor(out).full_tensor(), r.full_tensor() * r.full_tensor()));
  });
}

// Every op with a DTensor rule must reach the DTensor kernel. An op with a
// CompositeImplicitAutograd kernel decomposes above DTensor, so its rule would never run, unless
// the dispatcher registration keeps it whole: then it has the DTensor kernel on PrivateUse1 and a
// kernel of its own on AutogradPrivateUse1 (without one, autograd would pick the decomposition).
TEST(PointwiseRegistry, NoRuleForCompositeImplicitOps) {
  run_world(1, [](int) {
    // The first DTensor registers the DTensor kernels.
    distribute_tensor(at::ones({2}), init_device_mesh("cpu", {1}), {Replicate()});
    auto& dispatcher = c10::Dispatcher::singleton();
    int64_t with_rules = 0;
    for (const auto& name : dispatcher.getAllOpNames()) {
      if (!ops::has_rule(name)) continue;
      ++with_rules;
      auto op = dispatcher.findOp(name);
      const bool decomposes = op->hasKernelForDispatchKey(c10::DispatchKey::CompositeImplicitAutograd);
      EXPECT_TRUE(op->hasKernelForDispatchKey(c10::DispatchKey::PrivateUse1) &&
                  (!decomposes || op->hasKernelForDispatchKey(c10::DispatchKey::AutogradPrivateUse1)))
          << name << (decomposes ? " has a rule but decomposes before reaching DTensor"
                                 : " has a rule but no DTensor kernel");
    }
    for (const char* name : {"aten::add.Tensor", "aten::where.self", "aten::relu", "aten::copy_",
                             "aten::_to_copy", "aten::addcdiv_", "aten::threshold_backward",
                             "aten::value_selecting_reduction_backward"}) {
      const std::string full = name;
      const auto dot = full.find('.');
      EXPECT_TRUE(ops::has_rule({full.substr(0, dot), dot == std::string::npos ? "" : full.substr(dot + 1)})) << name;
    }
    EXPECT_GT(with_rules, 400);
  });
}
