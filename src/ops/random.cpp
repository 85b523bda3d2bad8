// Random ops on DTensors, sharding-invariant (see dtensor/random.h for the generator).
//
// Every random op keeps its tensor's placements: the values of an element depend only on its
// global index, so a Shard or Replicate layout needs no communication, and replicas agree
// because they compute the same global indices. Partial operands are rejected (the random
// tensor would have to be one summand). The ops run through OpStrategy::local, which draws this
// rank's elements of the op's stream:
//   uniform_, normal_, log_normal_, exponential_, cauchy_, geometric_, random_ (3 overloads),
//   bernoulli_.float / .Tensor, bernoulli: in place or like `self` (bernoulli.p is
//   CompositeImplicitAutograd: it reaches DTensor as empty_like + bernoulli_.float);
//   rand_like, randn_like, randint_like (2 overloads): `self` only gives the layout, so a Partial
//   self is fine and its mesh dims become Replicate;
//   native_dropout: mask = bernoulli(1 - p), output = input * mask / (1 - p) in one pass;
//   native_dropout_backward is pointwise (grad * mask * scale, linear in grad).
// An explicit Generator argument is refused: DTensor random ops draw from the DTensor generator.
#include <type_traits>

#include <ATen/OpMathType.h>

#include "ops/common.h"
#include "ops/pointwise.h"
#include "ops/random_dists.h"
#include "ops/random_fill.h"

namespace dtensor::ops {
namespace {

using random::ShardLayout;

ShardLayout layout_of(const DTensorSpec& s) {
  return {s.shape(), s.local_shape(), s.local_offset()};
}

TensorMeta meta_of_empty_like(const DTensorSpec& s, c10::optional<at::ScalarType> dtype,
                              c10::optional<at::MemoryFormat> format) {
  auto t = at::empty_like(
      at::empty_strided(s.shape(), s.meta().stride, at::TensorOptions().dtype(s.dtype()).device(at::kMeta)),
      at::TensorOptions().dtype(dtype.value_or(s.dtype())).device(at::kMeta), format);
  return {t.sizes().vec(), t.strides().vec(), t.scalar_type()};
}

std::string op_name(const c10::OperatorHandle& op) {
  const auto& s = op.schema();
  return s.overload_name().empty() ? s.name() : s.name() + "." + s.overload_name();
}

void check_no_partial(const OpCall& call, size_t input) {
  TORCH_CHECK(!call.input(input).has_partial(), op_name(call.op()), " with Partial is not supported yet! (",
              "got ", to_string(call.input(input).placements()), "; redistribute to Replicate or "
              "Shard first)");
}

void check_no_generator(const OpCall& call) {
  const auto& params = call.schema().arguments();
  bool explicit_generator = false;
  for (size_t i = 0; i < params.size() && i < call.num_args(); ++i)
    explicit_generator |= params[i].name() == "generator" && !call.arg(i).isNone();
  TORCH_CHECK_NOT_IMPLEMENTED(!explicit_generator, op_name(call.op()), " on a DTensor got an explicit "
                              "Generator; DTensor random ops draw from the DTensor generator "
                              "(seed it with dtensor::manual_seed)");
}

c10::IValue* args_of(const c10::OperatorHandle& op, torch::jit::Stack& stack) {
  return stack.data() + (stack.size() - op.schema().arguments().size());
}

// Fills `out` (a local shard laid out as `layout`) from distribution D for scalar type T, taking
// the op's slice of the stream.
template <class T, class D>
void draw(const at::Tensor& out, const ShardLayout& layout, const DeviceMesh& mesh, const D& dist) {
  const auto stream = random::reserve_stream(mesh, random::blocks_for<D>(layout.global_numel()));
  random::fill_shard<T>(out, layout, stream, dist);
}

// A distribution of floating values for `out`'s dtype, chosen by `make<A>()` (A: accumulation type).
template <class Make>
void draw_floating(const at::Tensor& out, const ShardLayout& layout, const DeviceMesh& mesh,
                   const Make& make) {
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, out.scalar_type(), "dtensor random op", [&] {
    using A = at::opmath_type<scalar_t>;
    draw<scalar_t>(out, layout, mesh, make(A{}));
  });
}

// Integers in from + [0, range) (range 0: 2^64) for any dtype.
void draw_integers(const at::Tensor& out, const ShardLayout& layout, const DeviceMesh& mesh,
                   int64_t from, uint64_t range) {
  AT_DISPATCH_ALL_TYPES_AND3(at::kHalf, at::kBFloat16, at::kBool, out.scalar_type(), "random_", [&] {
    draw<scalar_t>(out, layout, mesh, random::RandomInt{from, range});
  });
}

// Bernoulli with per-element probabilities `p` (same shape as `out`, float): u < p with 24-bit
// uniforms, like torch's CPU kernel. `p` is addressed through the position of the output pointer.
template <class T>
struct BernoulliTensor {
  static constexpr int kWords = 1;
  static constexpr int kPerDraw = 1;
  const float* p;
  const T* out_base;
  void operator()(const uint32_t* w, int64_t, int64_t n, T* out) const {
    const float* q = p + (out - out_base);
    for (int64_t j = 0; j < n; ++j) out[j] = static_cast<T>(random::unit<float>(w + j) < q[j]);
  }
};

void draw_bernoulli_tensor(const at::Tensor& out, const at::Tensor& p, const ShardLayout& layout,
                           const DeviceMesh& mesh) {
  auto dst = out.is_contiguous() ? out : at::empty(out.sizes(), out.options());
  const auto probs = p.to(at::kFloat).expand(out.sizes()).contiguous();
  AT_DISPATCH_ALL_TYPES_AND3(at::kHalf, at::kBFloat16, at::kBool, out.scalar_type(), "bernoulli_", [&] {
    const scalar_t* base = dst.data_ptr<scalar_t>();
    draw<scalar_t>(dst, layout, mesh, BernoulliTensor<scalar_t>{probs.data_ptr<float>(), base});
  });
  if (!dst.is_same(out)) out.copy_(dst);
}

// Dropout in one pass: the mask is the op's output; the scaled input goes to `y` at the same
// positions (x, y, mask contiguous with equal sizes).
template <class T>
struct Dropout {
  static constexpr int kWords = 1;
  static constexpr int kPerDraw = 1;
  random::Bernoulli keep;
  at::opmath_type<T> scale;
  const T* x;
  T* y;
  const bool* mask_base;
  void operator()(const uint32_t* w, int64_t sub, int64_t n, bool* mask) const {
    keep(w, sub, n, mask);
    const int64_t off = mask - mask_base;
    const T* xs = x + off;
    T* ys = y + off;
    using A = at::opmath_type<T>;
    for (int64_t j = 0; j < n; ++j) ys[j] = static_cast<T>(static_cast<A>(xs[j]) * (mask[j] ? scale : A(0)));
  }
};

// ---- local functions ---------------------------------------------------------------------------

// In-place ops: `fill(self_local, args)` draws into self; the op returns self.
template <class Fill>
LocalFn in_place(ShardLayout layout, DeviceMesh mesh, Fill fill) {
  return [layout = std::move(layout), mesh = std::move(mesh), fill](const c10::OperatorHandle& op,
                                                                     torch::jit::Stack& stack) {
    c10::IValue* args = args_of(op, stack);
    at::Tensor self = args[0].toTensor();
    fill(self, args, layout, mesh);
    torch::jit::drop(stack, op.schema().arguments().size());
    stack.emplace_back(std::move(self));
  };
}

// Strategy of an op that keeps input 0's placements (and brings the others to match).
std::vector<OpStrategy> keep_layout(const OpCall& call, LocalFn local, std::vector<TensorMeta> metas,
                                    size_t num_outputs) {
  check_no_generator(call);
  check_no_partial(call, 0);
  const auto& self = call.input(0);
  OpStrategy s;
  s.inputs.push_back(self.placements());
  for (size_t k = 1; k < call.num_inputs(); ++k)
    s.inputs.push_back(broadcast_to_input(self.placements(), self.shape(), call.input(k).shape()));
  s.outputs.assign(num_outputs, self.placements());
  s.local = std::move(local);
  s.output_meta = std::move(metas);
  return {s};
}

template <class Fill>
Rule in_place_rule(Fill fill) {
  return [fill](const OpCall& call) {
    const auto& self = call.input(0);
    return keep_layout(call, in_place(layout_of(self), self.mesh(), fill), {self.meta()}, 1);
  };
}

// Floating in-place ops whose distribution depends on scalar arguments: make(A, args) -> D.
template <class Make>
Rule floating_in_place(Make make) {
  return in_place_rule([make](const at::Tensor& self, const c10::IValue* args,
                                    const ShardLayout& layout, const DeviceMesh& mesh) {
    draw_floating(self, layout, mesh, [&](auto a) { return make(a, args); });
  });
}

void check_range(int64_t from, c10::optional<int64_t> to, const char* name) {
  TORCH_CHECK(!to || from < *to, name, " expects 'from' to be less than 'to', but got from=", from,
              " >= to=", *to);
}

// torch's default upper bounds: 2^digits for floating types (inclusive), the maximum otherwise.
std::pair<int64_t, uint64_t> default_range(at::ScalarType t, int64_t from) {
  if (t == at::kBool) return {from, static_cast<uint64_t>(2 - from)};
  int64_t top = 0;  // inclusive
  switch (t) {
    case at::kFloat: top = int64_t{1} << 24; break;
    case at::kDouble: top = int64_t{1} << 53; break;
    case at::kHalf: top = int64_t{1} << 11; break;
    case at::kBFloat16: top = int64_t{1} << 8; break;
    case at::kByte: top = 255; break;
    case at::kChar: top = 127; break;
    case at::kShort: top = 32767; break;
    case at::kInt: top = 2147483647; break;
    case at::kLong: top = std::numeric_limits<int64_t>::max(); break;
    default: TORCH_CHECK(false, "random_ is not implemented for ", t);
  }
  TORCH_CHECK(from <= top, "random_ expects 'from' to be at most ", top, " for ", t, ", got ", from);
  return {from, static_cast<uint64_t>(top) - static_cast<uint64_t>(from) + 1};  // 2^64 wraps to 0
}

Rule random_rule() {
  return in_place_rule([](const at::Tensor& self, const c10::IValue* args, const ShardLayout& layout,
                          const DeviceMesh& mesh) {
    auto [from, range] = default_range(self.scalar_type(), 0);
    draw_integers(self, layout, mesh, from, range);
  });
}

Rule random_from_rule() {
  return in_place_rule([](const at::Tensor& self, const c10::IValue* args, const ShardLayout& layout,
                          const DeviceMesh& mesh) {
    const int64_t from = args[1].toInt();
    const auto to = args[2].toOptional<int64_t>();
    check_range(from, to, "random_");
    if (to) {
      draw_integers(self, layout, mesh, from, static_cast<uint64_t>(*to) - static_cast<uint64_t>(from));
    } else {
      auto [f, range] = default_range(self.scalar_type(), from);
      draw_integers(self, layout, mesh, f, range);
    }
  });
}

Rule random_to_rule() {
  return in_place_rule([](const at::Tensor& self, const c10::IValue* args, const ShardLayout& layout,
                          const DeviceMesh& mesh) {
    const int64_t to = args[1].toInt();
    check_range(0, to, "random_");
    draw_integers(self, layout, mesh, 0, static_cast<uint64_t>(to));
  });
}

struct Identity {
  template <class A>
  A operator()(A x) const { return x; }
};
struct Exp {
  template <class A>
  A operator()(A x) const { return std::exp(x); }
};

// bernoulli_.float(self, p) and bernoulli_.Tensor(self, p).
Rule bernoulli_float_rule() {
  return in_place_rule([](const at::Tensor& self, const c10::IValue* args, const ShardLayout& layout,
                          const DeviceMesh& mesh) {
    const double p = args[1].toDouble();
    TORCH_CHECK(0 <= p && p <= 1, "bernoulli_ expects p to be in [0, 1], but got p=", p);
    AT_DISPATCH_ALL_TYPES_AND3(at::kHalf, at::kBFloat16, at::kBool, self.scalar_type(), "bernoulli_", [&] {
      draw<scalar_t>(self, layout, mesh, random::Bernoulli::with_p(p));
    });
  });
}

Rule bernoulli_tensor_rule() {
  return in_place_rule([](const at::Tensor& self, const c10::IValue* args, const ShardLayout& layout,
                          const DeviceMesh& mesh) {
    draw_bernoulli_tensor(self, args[1].toTensor(), layout, mesh);
  });
}

// bernoulli(self): a new tensor like self, which holds the probabilities.
std::vector<OpStrategy> bernoulli_like(const OpCall& call) {
  const auto& self = call.input(0);
  auto fn = [layout = layout_of(self), mesh = self.mesh()](const c10::OperatorHandle& op,
                                                           torch::jit::Stack& stack) {
    c10::IValue* args = args_of(op, stack);
    const at::Tensor self = args[0].toTensor();
    at::Tensor out = at::empty_like(self);
    draw_bernoulli_tensor(out, self, layout, mesh);
    torch::jit::drop(stack, op.schema().arguments().size());
    stack.emplace_back(std::move(out));
  };
  return keep_layout(call, fn, {meta_of_empty_like(self, c10::nullopt, c10::nullopt)}, 1);
}

// native_dropout(input, p, train) -> (output, mask)
std::vector<OpStrategy> native_dropout(const OpCall& call) {
  const auto& in = call.input(0);
  auto fn = [layout = layout_of(in), mesh = in.mesh()](const c10::OperatorHandle& op, torch::jit::Stack& stack) {
    c10::IValue* args = args_of(op, stack);
    const at::Tensor x = args[0].toTensor();
    const double p = args[1].toDouble();
    const auto train = args[2].toOptional<bool>();
    TORCH_CHECK(0 <= p && p <= 1, "dropout probability has to be between 0 and 1, but got ", p);
    at::Tensor out, mask;
    if (train.has_value() && !*train) {  // eval: no draw, like torch
      out = x.clone();
      mask = at::ones_like(x, x.options().dtype(at::kBool));
    } else {
      const double keep = 1 - p;
      const double scale = keep == 0 ? 0 : 1 / keep;
      mask = at::empty_like(x, x.options().dtype(at::kBool));
      if (x.is_contiguous() && mask.is_contiguous()) {
        out = at::empty_like(x);
        AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "native_dropout", [&] {
          const Dropout<scalar_t> d{random::Bernoulli::with_p(keep), static_cast<at::opmath_type<scalar_t>>(scale),
                                    x.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(), mask.data_ptr<bool>()};
          draw<bool>(mask, layout, mesh, d);
        });
      } else {  // keeps the input's memory layout, as torch does
        draw<bool>(mask, layout, mesh, random::Bernoulli::with_p(keep));
        out = x.mul(mask).mul_(scale);
      }
    }
    torch::jit::drop(stack, op.schema().arguments().size());
    stack.emplace_back(std::move(out));
    stack.emplace_back(std::move(mask));
  };
  return keep_layout(call, fn,
                     {meta_of_empty_like(in, c10::nullopt, c10::nullopt),
                      meta_of_empty_like(in, at::kBool, c10::nullopt)},
                     2);
}

// rand_like / randn_like / randint_like: self gives sizes, placements and default options.
// `first_option` is the index of the dtype argument; `fill(out, args, layout, mesh)` draws.
template <class Fill>
Rule like_rule(int first_option, Fill fill) {
  return [first_option, fill](const OpCall& call) {
    const auto& self = call.input(0);
    const auto dtype = call.arg(first_option).toOptional<at::ScalarType>();
    const auto device = call.arg(first_option + 2).toOptional<at::Device>();
    const auto format = call.arg(first_option + 4).toOptional<at::MemoryFormat>();
    TORCH_CHECK_NOT_IMPLEMENTED(!device || device->type() == self.mesh().device().type(), op_name(call.op()),
                                ": a DTensor on a ", self.mesh().device_type(), " mesh cannot create ",
                                "a tensor on ", *device);
    const Placements out_p = without_partial(self.placements());
    const auto out_spec = self.with_placements(out_p);
    auto fn = [layout = layout_of(*out_spec), mesh = self.mesh(), first_option, dtype, format, fill](
                  const c10::OperatorHandle& op, torch::jit::Stack& stack) {
      c10::IValue* args = args_of(op, stack);
      const at::Tensor self = args[0].toTensor();
      at::Tensor out = at::empty_like(self, self.options().dtype(dtype.value_or(self.scalar_type())), format);
      fill(out, args, layout, mesh);
      torch::jit::drop(stack, op.schema().arguments().size());
      stack.emplace_back(std::move(out));
    };
    OpStrategy s;
    s.inputs.push_back(self.placements());  // only the layout is used: no reduction of Partial
    s.outputs.push_back(out_p);
    s.local = fn;
    s.output_meta = std::vector<TensorMeta>{meta_of_empty_like(self, dtype, format)};
    return std::vector<OpStrategy>{s};
  };
}

}  // namespace

DTENSOR_RULES(random) {
  // Scalars (bounds, probabilities) are read at run time: they never key the cache.
  const auto none = keys({});
  register_rule("aten::uniform_", floating_in_place([](auto a, const c10::IValue* args) {
    using A = decltype(a);
    const double from = args[1].toDouble(), to = args[2].toDouble();
    TORCH_CHECK(from <= to, "uniform_ expects to return a [from, to) range, but found from=", from,
                " > to=", to);
    return random::from_uniform<A>([lo = A(from), span = A(to - from)](A u) { return lo + span * u; });
  }), none);
  register_rule("aten::normal_", floating_in_place([](auto a, const c10::IValue* args) {
    using A = decltype(a);
    const double std = args[2].toDouble();
    TORCH_CHECK(std >= 0.0, "normal_ expects std >= 0.0, but found std ", std);
    return random::Normal<A, Identity>{A(args[1].toDouble()), A(std), {}};
  }), none);
  register_rule("aten::log_normal_", floating_in_place([](auto a, const c10::IValue* args) {
    using A = decltype(a);
    const double std = args[2].toDouble();
    TORCH_CHECK(std > 0.0, "log_normal_ expects std > 0.0, but found std=", std);
    return random::Normal<A, Exp>{A(args[1].toDouble()), A(std), {}};
  }), none);
  register_rule("aten::exponential_", floating_in_place([](auto a, const c10::IValue* args) {
    using A = decltype(a);
    const double lambd = args[1].toDouble();
    TORCH_CHECK(lambd > 0.0, "exponential_ expects lambda > 0.0, but found lambda=", lambd);
    return random::from_uniform<A>([l = A(lambd)](A u) { return -std::log1p(-u) / l; });
  }), none);
  register_rule("aten::cauchy_", floating_in_place([](auto a, const c10::IValue* args) {
    using A = decltype(a);
    constexpr A kPi = static_cast<A>(3.14159265358979323846264338327950288);
    return random::from_uniform<A>([m = A(args[1].toDouble()), s = A(args[2].toDouble()), kPi](A u) {
      return m + s * std::tan(kPi * (u - A(0.5)));
    });
  }), none);
  register_rule("aten::geometric_", floating_in_place([](auto a, const c10::IValue* args) {
    using A = decltype(a);
    const double p = args[1].toDouble();
    TORCH_CHECK(0 < p && p < 1, "geometric_ expects p to be in (0, 1), but got p=", p);
    // u + half a step lies in (0, 1): the logarithm is finite and negative, the result >= 1.
    const A half_step = std::is_same<A, float>::value ? A(0x1p-25) : A(0x1p-54);
    return random::from_uniform<A>([d = A(std::log1p(-p)), half_step](A u) {
      return std::ceil(std::log(u + half_step) / d);
    });
  }), none);
  register_rule("aten::random_", random_rule(), none);
  register_rule("aten::random_.from", random_from_rule(), none);
  register_rule("aten::random_.to", random_to_rule(), none);
  register_rule("aten::bernoulli_.float", bernoulli_float_rule(), none);
  register_rule("aten::bernoulli_.Tensor", bernoulli_tensor_rule(), none);
  register_rule("aten::bernoulli", bernoulli_like, none);
  register_rule("aten::native_dropout", native_dropout, none);
  register_pointwise({"aten::native_dropout_backward"}, Linearity::Scaling);

  // dtype, layout, device, pin_memory, memory_format shape the output: they key the cache.
  register_rule("aten::rand_like", like_rule(1, [](const at::Tensor& out, const c10::IValue*,
                                                   const ShardLayout& layout, const DeviceMesh& mesh) {
    draw_floating(out, layout, mesh, [](auto a) {
      using A = decltype(a);
      return random::from_uniform<A>(Identity{});
    });
  }), keys({1, 2, 3, 4, 5}));
  register_rule("aten::randn_like", like_rule(1, [](const at::Tensor& out, const c10::IValue*,
                                                    const ShardLayout& layout, const DeviceMesh& mesh) {
    draw_floating(out, layout, mesh, [](auto a) {
      using A = decltype(a);
      return random::Normal<A, Identity>{A(0), A(1), {}};
    });
  }), keys({1, 2, 3, 4, 5}));
  register_rule("aten::randint_like", like_rule(2, [](const at::Tensor& out, const c10::IValue* args,
                                                      const ShardLayout& layout, const DeviceMesh& mesh) {
    const int64_t high = args[1].toInt();
    check_range(0, high, "randint_like");
    draw_integers(out, layout, mesh, 0, static_cast<uint64_t>(high));
  }), keys({2, 3, 4, 5, 6}));
  register_rule("aten::randint_like.low_dtype",
                like_rule(3, [](const at::Tensor& out, const c10::IValue* args, const ShardLayout& layout,
                                const DeviceMesh& mesh) {
                  const int64_t low = args[1].toInt(), high = args[2].toInt();
                  check_range(low, high, "randint_like");
                  draw_integers(out, layout, mesh, low, static_cast<uint64_t>(high) - static_cast<uint64_t>(low));
                }),
                keys({3, 4, 5, 6, 7}));
}

}  // namespace dtensor::ops
