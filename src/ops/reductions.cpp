// Reductions over dims: sum, nansum, mean, prod, amax/amin, max/min, argmax/argmin, all/any,
// count_nonzero, var/std (and var_mean/std_mean), logsumexp, vector norms; and the cumsum scan.
//
// Per mesh dim of the input:
//   * a shard of a kept dim survives (renumbered when reduced dims are dropped);
//   * a shard of a reduced dim leaves every rank the reduction of its piece. How pieces combine:
//       sum, nansum, count_nonzero, norm p=0, p=1   Partial(sum)
//       mean                                         Partial(avg) when the dim splits evenly; uneven
//                                                    pieces weigh differently, so the dim is
//                                                    gathered first
//       amax, max(), norm p=+inf                     Partial(max)
//       amin, min(), norm p=-inf                     Partial(min)
//       prod                                         Partial(product)
//       all / any                                    Partial(min) / Partial(max) of the booleans
//       norm, any other p                            each rank computes sum|x|^p of its piece (the
//                                                    p-th power of its local norm); the op
//                                                    all-reduces those sums over the mesh dims
//                                                    that split reduced dims and takes the p-th
//                                                    root: one all_reduce of the small output
//                                                    instead of gathering the input. The output is
//                                                    Replicate on those mesh dims.
//       max.dim/min.dim, argmax/argmin               gathered first: a local index is not a global
//                                                    one, and values must pair with their indices
//       var/std(_mean), logsumexp                    gathered first (not decomposable into one
//                                                    standard reduction)
//   * a Partial input passes when the reduction is linear in it: sum/mean of P(sum|avg), amax and
//     max() of P(max), amin and min() of P(min), prod of P(product). Otherwise it is reduced first.
// An uneven shard leaves trailing ranks an empty piece, where max-like reductions have no value
// (torch raises); such a rank holds the combine's identity instead (-inf or the dtype's lowest for
// max, +inf or highest for min, 0 for the inf-norm of |x|), which the Partial combine ignores.
//
// cumsum and cumprod scan their dim: that dim is gathered, the other shards stay; P(sum|avg)
// passes cumsum (linear), P(product) passes cumprod.
//
// Backward: autograd decomposes most of these gradients into pointwise ops, expand and sum. The
// exception is value_selecting_reduction_backward (max.dim, min.dim): its decomposition would
// allocate a plain tensor, so it runs as one op here (src/dispatch/register.cpp keeps it whole).
// prod's backward in libtorch asks aten::nonzero whether the input holds zeros, a data-dependent
// shape that DTensor propagation refuses: prod has its own derivative (ops/derivatives.h).
//
// Several of these ops have no meta kernel in libtorch 1.13 (kMeta below); their rules state the
// output metadata: the shape from the reduced dims, the dtype from running the op on a tiny CPU
// tensor of the same rank and dtype, so the op's own promotion rules (and errors) apply.
#include <cmath>
#include <limits>

#include <ATen/ATen.h>

#include "ops/common.h"
#include "ops/derivatives.h"

namespace dtensor::ops {
namespace {

// How the pieces of a sharded reduced dim combine.
enum class Combine { Sum, Avg, Max, Min, Product, PNorm, Gather };

struct Reduction {
  Combine combine;
  int dims_arg;         // argument holding the reduced dims (int, int[] or None); -1: all dims
  int keepdim_arg;      // -1: keepdim is false
  bool linear_partial;  // Partial inputs of the matching op pass through
  size_t num_outputs = 1;
  bool fill_empty = false;  // max-like: empty pieces hold the identity
  double norm_p = 2;        // Combine::PNorm
};

std::vector<int64_t> reduced_dims(const OpCall& call, int dims_arg, int64_t ndim) {
  std::vector<int64_t> dims;
  if (dims_arg >= 0) {
    const auto& a = call.arg(dims_arg);
    if (a.isInt()) dims.push_back(a.toInt());
    else if (a.isIntList()) dims = a.toIntVector();
  }
  if (dims.empty()) {  // None or [] reduce every dim (libtorch 1.13 semantics)
    for (int64_t d = 0; d < ndim; ++d) dims.push_back(d);
  }
  for (auto& d : dims) d = wrap_dim(d, ndim);
  return dims;
}

bool contains(const std::vector<int64_t>& v, int64_t x) { return std::find(v.begin(), v.end(), x) != v.end(); }

std::vector<int64_t> reduced_shape(c10::IntArrayRef shape, const std::vector<int64_t>& dims, bool keepdim) {
  std::vector<int64_t> out;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
    if (!contains(dims, d)) out.push_back(shape[d]);
    else if (keepdim) out.push_back(1);
  }
  return out;
}

comm::ReduceOp partial_op(Combine c) {
  switch (c) {
    case Combine::Sum: return comm::ReduceOp::Sum;
    case Combine::Avg: return comm::ReduceOp::Avg;
    case Combine::Max: return comm::ReduceOp::Max;
    case Combine::Min: return comm::ReduceOp::Min;
    case Combine::Product: return comm::ReduceOp::Product;
    default: break;
  }
  TORCH_INTERNAL_ASSERT(false, "no Partial for this combine");
}

bool partial_passes(Combine c, comm::ReduceOp op) {
  switch (c) {
    case Combine::Sum:
    case Combine::Avg:
      return op == comm::ReduceOp::Sum || op == comm::ReduceOp::Avg;
    case Combine::Max: return op == comm::ReduceOp::Max;
    case Combine::Min: return op == comm::ReduceOp::Min;
    case Combine::Product: return op == comm::ReduceOp::Product;
    default: return false;
  }
}

// Output dtypes: the op run on a 2x...x2 CPU tensor of the input's rank and dtype.
std::vector<at::ScalarType> probe_dtypes(const OpCall& call) {
  torch::jit::Stack stack;
  const auto& in = call.input(0);
  stack.emplace_back(at::zeros(std::vector<int64_t>(in.ndim(), 2), at::TensorOptions().dtype(in.dtype())));
  for (size_t i = 1; i < call.num_args(); ++i) stack.push_back(call.arg(i));
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    call.op().callBoxed(&stack);
  }
  std::vector<at::ScalarType> types;
  for (const auto& v : stack) types.push_back(v.toTensor().scalar_type());
  return types;
}

c10::Scalar identity_of(Combine c, at::ScalarType dtype) {
  const bool max = c == Combine::Max;
  if (dtype == at::kBool) return !max;
  if (at::isFloatingType(dtype)) return max ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
  c10::Scalar result;
  AT_DISPATCH_INTEGRAL_TYPES(dtype, "identity_of", [&] {
    result = max ? std::numeric_limits<scalar_t>::lowest() : std::numeric_limits<scalar_t>::max();
  });
  return result;
}

bool empty_piece(const at::Tensor& local, const std::vector<int64_t>& dims) {
  for (int64_t d : dims)
    if (local.dim() > 0 && local.size(d) == 0) return true;
  return false;
}

// The op on the local piece, or `fill` where the piece is empty along a reduced dim.
LocalFn fill_empty_pieces(std::vector<int64_t> dims, bool keepdim, c10::Scalar fill, at::ScalarType dtype) {
  return [dims, keepdim, fill, dtype](const c10::OperatorHandle& op, torch::jit::Stack& stack) {
    const size_t num_args = op.schema().arguments().size();
    const at::Tensor self = stack[stack.size() - num_args].toTensor();
    if (!empty_piece(self, dims)) {
      op.callBoxed(&stack);
      return;
    }
    torch::jit::drop(stack, num_args);
    stack.emplace_back(at::full(reduced_shape(self.sizes(), dims, keepdim), fill, self.options().dtype(dtype)));
  };
}

// p-norm over pieces: local sum|x|^p, all-reduced (sum) over `mesh_dims`, then the p-th root.
LocalFn combined_pnorm(DeviceMesh mesh, std::vector<int64_t> mesh_dims, std::vector<int64_t> dims,
                       bool keepdim, double p, at::ScalarType dtype) {
  return [=](const c10::OperatorHandle& op, torch::jit::Stack& stack) {
    const size_t num_args = op.schema().arguments().size();
    const at::Tensor self = stack[stack.size() - num_args].toTensor();
    at::Tensor powered;
    if (empty_piece(self, dims)) {
      torch::jit::drop(stack, num_args);
      powered = at::zeros(reduced_shape(self.sizes(), dims, keepdim), self.options().dtype(dtype));
    } else {
      op.callBoxed(&stack);
      powered = torch::jit::pop(stack).toTensor().pow(p);
    }
    for (int64_t m : mesh_dims) powered = comm::all_reduce(powered, comm::ReduceOp::Sum, mesh.get_group(m));
    stack.emplace_back(powered.pow(1.0 / p));
  };
}

std::vector<OpStrategy> reduction_rule(const OpCall& call, const Reduction& r, bool state_meta) {
  const auto& in = call.input(0);
  const auto dims = reduced_dims(call, r.dims_arg, in.ndim());
  const bool keepdim = r.keepdim_arg >= 0 && call.arg(r.keepdim_arg).toBool();
  const Placements& given = in.placements();
  Placements in_p = given, out_p = given;
  std::vector<int64_t> pnorm_mesh_dims;
  bool pieces_combine = false;  // some reduced dim stays sharded
  for (size_t m = 0; m < given.size(); ++m) {
    const auto& p = given[m];
    if (p.is_partial()) {
      if (!(r.linear_partial && partial_passes(r.combine, p.reduce_op()))) in_p[m] = out_p[m] = Replicate{};
      continue;
    }
    if (!p.is_shard()) continue;
    const int64_t d = p.shard_dim();
    if (!contains(dims, d)) {
      int64_t dropped = 0;
      for (int64_t x : dims) dropped += !keepdim && x < d;
      out_p[m] = Shard(d - dropped);
      continue;
    }
    const bool gather = r.combine == Combine::Gather ||
                        (r.combine == Combine::Avg && in.shape()[d] % shards_of_dim(given, d, in.mesh()) != 0);
    if (gather) {
      in_p[m] = out_p[m] = Replicate{};
    } else if (r.combine == Combine::PNorm) {
      pnorm_mesh_dims.push_back(static_cast<int64_t>(m));
      out_p[m] = Replicate{};
      pieces_combine = true;
    } else {
      out_p[m] = Partial(comm::reduce_op_name(partial_op(r.combine)));
      pieces_combine = true;
    }
  }
  OpStrategy s;
  s.inputs.push_back(in_p);
  s.outputs.assign(r.num_outputs, out_p);
  std::vector<at::ScalarType> dtypes;
  if (state_meta || pieces_combine) dtypes = probe_dtypes(call);
  if (state_meta) {
    s.output_meta.emplace();
    for (auto t : dtypes) s.output_meta->push_back(contiguous_meta(reduced_shape(in.shape(), dims, keepdim), t));
  }
  if (pieces_combine && r.combine == Combine::PNorm) {
    s.local = combined_pnorm(in.mesh(), pnorm_mesh_dims, dims, keepdim, r.norm_p, dtypes[0]);
  } else if (pieces_combine && r.fill_empty) {
    // The inf-norms reduce |x|: 0 is the identity of the +inf-norm's max.
    const bool abs_max = r.combine == Combine::Max && r.norm_p == INFINITY;
    s.local = fill_empty_pieces(dims, keepdim, abs_max ? c10::Scalar(0.0) : identity_of(r.combine, dtypes[0]), dtypes[0]);
  }
  return {s};
}

void register_reduction(std::initializer_list<const char*> names, Reduction r, bool state_meta) {
  register_rule(names, [r, state_meta](const OpCall& c) { return reduction_rule(c, r, state_meta); });
}

// Vector norms: how pieces combine depends on p (argument 1; None means 2).
void register_norm(const char* name, int dims_arg, int keepdim_arg, bool state_meta) {
  register_rule(name, [=](const OpCall& c) {
    const double p = c.arg(1).isNone() ? 2.0 : c.arg(1).toScalar().toDouble();
    Reduction r{Combine::PNorm, dims_arg, keepdim_arg, false};
    r.norm_p = p;
    if (p == 0 || p == 1) r.combine = Combine::Sum;
    else if (p == INFINITY) r.combine = Combine::Max, r.fill_empty = true;
    else if (p == -INFINITY) r.combine = Combine::Min, r.fill_empty = true;
    return reduction_rule(c, r, state_meta);
  });
}

// cumsum / cumprod: scans of their dim (see the file header).
std::vector<OpStrategy> scan_rule(const OpCall& call, Combine combine) {
  const auto& in = call.input(0);
  const int64_t dim = wrap_dim(call.int_arg(1), in.ndim());
  Placements p = unshard_dims(in.placements(), {dim});
  for (auto& x : p)
    if (x.is_partial() && !partial_passes(combine, x.reduce_op())) x = Replicate{};
  return {make_strategy({p}, p)};
}

// prod(self) / prod(self, dim, keepdim): x_i's gradient is grad times the product of the other
// elements, here the exclusive cumprods from both ends, which needs no division and so no special
// case for zeros. libtorch's formula asks nonzero() where the zeros are, a data-dependent shape
// DTensor propagation refuses. Differentiable ops throughout (double backward works).
Backward prod_backward(c10::ArrayRef<c10::IValue> args) {
  const SavedTensor self(args[0].toTensor(), "the input of prod");
  const bool all = args.size() == 2;  // prod(self, *, dtype) or prod.dim_int(self, dim, keepdim, *, dtype)
  const int64_t dim = all ? 0 : wrap_dim(args[1].toInt(), args[0].toTensor().dim());
  const bool keepdim = !all && args[2].toBool();
  return [=](const at::Tensor& grad, const std::vector<bool>& needed) -> std::vector<at::Tensor> {
    if (!needed[0]) return {at::Tensor()};
    const at::Tensor& input = self.get();
    if (input.numel() == 0) return {grad.new_zeros(input.sizes())};
    at::Tensor x = input.to(grad.scalar_type());
    at::Tensor g = grad;
    if (all) {
      x = x.reshape({-1});
    } else if (!keepdim && input.dim() > 0) {
      g = g.unsqueeze(dim);
    }
    if (x.dim() == 0) return {g};  // prod of a scalar is the scalar
    const int64_t n = x.size(dim);
    const at::Tensor one = at::ones_like(x.narrow(dim, 0, 1));
    const at::Tensor before = at::cat({one, x.narrow(dim, 0, n - 1)}, dim).cumprod(dim);
    const at::Tensor after = at::cat({x.narrow(dim, 1, n - 1), one}, dim).flip(dim).cumprod(dim).flip(dim);
    const at::Tensor out = g * before * after;
    return {all ? out.reshape(input.sizes()) : out};
  };
}

// value_selecting_reduction_backward(grad, dim, indices, sizes, keepdim): the gradient of
// max.dim/min.dim (and sort, topk...): zeros of the input's `sizes` with grad scattered at the
// selected indices along `dim`. `dim` must be whole in the result; the shards of grad and indices
// (laid out alike) become shards of the result's matching dims, and a Partial(sum|avg) grad passes
// (the scatter is linear in it). The local result has the local piece's sizes.
std::vector<OpStrategy> value_selecting_backward_rule(const OpCall& call) {
  const auto sizes = call.int_list_arg(3);
  const int64_t dim = wrap_dim(call.int_arg(1), static_cast<int64_t>(sizes.size()));
  const bool keepdim = call.arg(4).toBool();
  std::vector<OpStrategy> strategies;
  for (size_t leader = 0; leader < 2; ++leader) {
    Placements in_p = call.input(leader).placements(), out_p = in_p;
    for (size_t m = 0; m < in_p.size(); ++m) {
      const auto& p = in_p[m];
      if (p.is_partial() && !(leader == 0 && partial_passes(Combine::Sum, p.reduce_op()))) {
        in_p[m] = out_p[m] = Replicate{};
      } else if (p.is_shard()) {
        const int64_t d = p.shard_dim();
        if (keepdim && d == dim) in_p[m] = out_p[m] = Replicate{};
        else out_p[m] = Shard(!keepdim && d >= dim ? d + 1 : d);
      }
    }
    OpStrategy s;
    s.inputs = {in_p, without_partial(in_p)};
    s.outputs = {out_p};
    const auto local_sizes = local_piece(call.mesh(), out_p, sizes).first;
    if (local_sizes != sizes) {
      s.local = [local_sizes](const c10::OperatorHandle& op, torch::jit::Stack& stack) {
        stack[stack.size() - 2] = local_sizes;
        op.callBoxed(&stack);
      };
    }
    strategies.push_back(std::move(s));
  }
  return strategies;
}

}  // namespace

DTENSOR_RULES(reductions) {
  constexpr bool kMeta = true;  // the op has no meta kernel: the rule states the output metadata
  register_reduction({"aten::sum"}, {Combine::Sum, -1, -1, true}, !kMeta);
  register_reduction({"aten::sum.dim_IntList"}, {Combine::Sum, 1, 2, true}, !kMeta);
  register_reduction({"aten::nansum"}, {Combine::Sum, 1, 2, false}, kMeta);
  register_reduction({"aten::mean"}, {Combine::Avg, -1, -1, true}, !kMeta);
  register_reduction({"aten::mean.dim"}, {Combine::Avg, 1, 2, true}, !kMeta);
  register_reduction({"aten::prod"}, {Combine::Product, -1, -1, true}, kMeta);
  register_reduction({"aten::prod.dim_int"}, {Combine::Product, 1, 2, true}, !kMeta);
  register_reduction({"aten::amax"}, {Combine::Max, 1, 2, true, 1, true}, !kMeta);
  register_reduction({"aten::amin"}, {Combine::Min, 1, 2, true, 1, true}, !kMeta);
  register_reduction({"aten::max"}, {Combine::Max, -1, -1, true, 1, true}, kMeta);
  register_reduction({"aten::min"}, {Combine::Min, -1, -1, true, 1, true}, kMeta);
  register_reduction({"aten::max.dim", "aten::min.dim"}, {Combine::Gather, 1, 2, false, 2}, !kMeta);
  register_reduction({"aten::argmax", "aten::argmin"}, {Combine::Gather, 1, 2, false}, !kMeta);
  register_reduction({"aten::all"}, {Combine::Min, -1, -1, false}, !kMeta);
  register_reduction({"aten::all.dim"}, {Combine::Min, 1, 2, false}, !kMeta);
  register_reduction({"aten::any"}, {Combine::Max, -1, -1, false}, !kMeta);
  register_reduction({"aten::any.dim"}, {Combine::Max, 1, 2, false}, !kMeta);
  register_reduction({"aten::count_nonzero", "aten::count_nonzero.dim_IntList"}, {Combine::Sum, 1, -1, false}, kMeta);
  register_reduction({"aten::var.correction", "aten::std.correction"}, {Combine::Gather, 1, 3, false}, kMeta);
  register_reduction({"aten::var_mean.correction", "aten::std_mean.correction"}, {Combine::Gather, 1, 3, false, 2}, kMeta);
  register_reduction({"aten::logsumexp"}, {Combine::Gather, 1, 2, false}, kMeta);
  register_norm("aten::linalg_vector_norm", 2, 3, !kMeta);
  register_norm("aten::norm.Scalar", -1, -1, !kMeta);
  register_norm("aten::norm.ScalarOpt_dtype", -1, -1, !kMeta);
  register_norm("aten::norm.ScalarOpt_dim", 2, 3, !kMeta);
  register_norm("aten::norm.ScalarOpt_dim_dtype", 2, 3, !kMeta);
  register_rule("aten::cumsum", [](const OpCall& c) { return scan_rule(c, Combine::Sum); });
  register_rule("aten::cumprod", [](const OpCall& c) { return scan_rule(c, Combine::Product); });
  register_derivative("aten::prod", prod_backward);
  register_derivative("aten::prod.dim_int", prod_backward);
  register_rule("aten::value_selecting_reduction_backward", value_selecting_backward_rule);
}

}  // namespace dtensor::ops
