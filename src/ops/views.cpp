// View and reshape ops.
//
// Every op here returns a view. On DTensors the local result must be a view of the local shard,
// so that in-place ops through the view update the base. A rule therefore keeps a shard wherever
// each rank's piece of the input *is* its piece of the output (the local op then needs no data
// from other ranks); otherwise it raises (strict views) or redistributes the input first, and the
// result is then a view of the redistributed copy, as in PyTorch.
//
// view / _reshape_alias / _unsafe_view. Input and output shapes split into minimal groups of
// equal element count (PyTorch's view_groups: a dim forwarded as is, several input dims
// flattened into one, one input dim split into several, or both; a dropped size-1 input dim
// joins a neighbouring group). The shards of a group's input dims land on the group's first
// output dim, nested in mesh-dim order, and stay local only when, on every mesh coordinate, the
// rank's elements of the group are one contiguous run of the group's row-major order that equals
// its chunk of that output dim (torch.chunk pieces, nested shards split left to right). For the
// usual single sharded leftmost dim this means: its block of rows [o, o+s) times the elements
// behind one row equals the output block times the elements behind an output row. That holds
// whenever the dim divides evenly over its shards (PyTorch's condition, which misses nested
// shards: [S0, S0] on 2x2 with 2 rows flattens wrongly there) and in some uneven layouts too:
// 4 rows over 3 ranks split into 2 x 2 are pieces 2,2,0 of the input and 1,1,0 of the output.
// It also keeps [S0, S1] of [2, 3, 4] viewed as [6, 4] (each rank holds one row of dim 0, so
// its columns of dim 1 stay contiguous) as [S0, S0]. A sharded non-leftmost dim of a flatten
// otherwise breaks the run ("only the leftmost dim of a Flatten can be sharded").
//   view raises instead of redistributing ("Attempted to flatten sharded dimension ..."): a
//     redistributed "view" would silently stop aliasing its base.
//   _reshape_alias (reshape of a viewable tensor) and _unsafe_view (reshape of a non-viewable
//     tensor after a contiguous clone; matmul's batch folding) replicate such dims first.
//     PyTorch treats _unsafe_view as strict; here reshape would then succeed or raise depending
//     on the input's strides, and _unsafe_view's input is always a fresh temporary that nothing
//     else aliases, so redistributing it is safe.
// Partial passes through every view (views select elements: linear for every reduce op).
//
// t / transpose / permute move shards with their dims; unsqueeze / squeeze shift them (a
// squeezed size-1 dim is replicated first; the local op squeezes exactly the global size-1
// dims, since a local piece can have size 1 where the global dim does not). expand keeps shards
// on dims it does not broadcast. view_as_real keeps shards (the new last dim holds the two
// parts); view_as_complex needs that size-2 last dim whole. view.dtype with a different element
// size rescales the last dim, which may stay sharded when its blocks rescale exactly. diagonal /
// diagonal_backward and unfold / unfold_backward need the dims they combine whole.
// The in-place forms t_, transpose_, unsqueeze_ and squeeze_ (matmul squeezes its 1-D results
// in place) change self's shape: they use the same rules, the dispatcher installs the new spec
// in self, and since self cannot be redistributed in place, squeeze_ of a sharded size-1 dim
// raises.
//
// as_strided is refused: its strides and offset address the storage of the global tensor, which
// no rank holds (DTensors report storage offset 0, so even a replicated as_strided would read the
// wrong elements for views with an offset). Autograd reaches it for in-place ops on views of
// tensors that require grad (CopySlices), which are therefore unsupported on DTensors.
#include <ATen/InferSize.h>
#include <ATen/TensorUtils.h>

#include "ops/common.h"

namespace dtensor::ops {
namespace {

struct Group {
  std::vector<int64_t> in, out;
};

// Minimal groups of equal element count, in order. A size-1 input dim the view drops joins the
// previous group as its innermost dim (leading ones join the first group): its shard, held whole
// by one coordinate, can then nest inside the group's output shards. Size-1 dims on both sides
// pair up.
std::vector<Group> view_groups(const std::vector<int64_t>& in, const std::vector<int64_t>& out) {
  std::vector<Group> groups;
  std::vector<int64_t> dropped;  // size-1 input dims waiting for a group
  size_t i = 0, j = 0;
  while (i < in.size() || j < out.size()) {
    const bool in_one = i < in.size() && in[i] == 1, out_one = j < out.size() && out[j] == 1;
    if (in_one && out_one) {
      groups.push_back({{static_cast<int64_t>(i++)}, {static_cast<int64_t>(j++)}});
    } else if (in_one || j >= out.size()) {
      auto last = std::find_if(groups.rbegin(), groups.rend(), [](const Group& g) { return !g.in.empty(); });
      if (last != groups.rend()) last->in.push_back(static_cast<int64_t>(i++));  // innermost there
      else dropped.push_back(static_cast<int64_t>(i++));
      continue;
    } else if (out_one || i >= in.size()) {
      groups.push_back({{}, {static_cast<int64_t>(j++)}});
    } else {
      Group g{{static_cast<int64_t>(i)}, {static_cast<int64_t>(j)}};
      int64_t pin = in[i++], pout = out[j++];
      while (pin != pout) {
        if (pin < pout) {
          TORCH_INTERNAL_ASSERT(i < in.size(), "view_groups: element counts differ");
          g.in.push_back(static_cast<int64_t>(i));
          pin *= in[i++];
        } else {
          TORCH_INTERNAL_ASSERT(j < out.size(), "view_groups: element counts differ");
          g.out.push_back(static_cast<int64_t>(j));
          pout *= out[j++];
        }
      }
      groups.push_back(std::move(g));
    }
    if (!dropped.empty() && !groups.back().in.empty()) {  // leading size-1 dims: the first group
      groups.back().in.insert(groups.back().in.begin(), dropped.begin(), dropped.end());
      dropped.clear();
    }
  }
  if (!dropped.empty()) groups.push_back({dropped, {}});  // a view to a 0-dim tensor
  return groups;
}

int64_t numel_of(const std::vector<int64_t>& shape, const std::vector<int64_t>& dims, size_t from) {
  int64_t n = 1;
  for (size_t k = from; k < dims.size(); ++k) n *= shape[dims[k]];
  return n;
}

// The elements of group `g` that `spec` gives coordinate `c`, as a range [start, start + length)
// of the group's row-major order; nullopt when they do not form one range.
std::optional<std::pair<int64_t, int64_t>> group_range(const DTensorSpec& spec, const std::vector<int64_t>& dims,
                                                       const std::vector<int64_t>& c) {
  auto [shape, offset] = spec.local_shape_and_offset(c);
  for (int64_t d : dims)
    if (shape[d] == 0) return std::make_pair(int64_t{0}, int64_t{0});
  // Dims after the last partial one must be whole, dims before it single rows.
  size_t k = 0;
  for (size_t i = 0; i < dims.size(); ++i)
    if (shape[dims[i]] != spec.shape()[dims[i]]) k = i;
  int64_t start = 0;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i < k && shape[dims[i]] != 1) return std::nullopt;
    start += offset[dims[i]] * numel_of(spec.shape(), dims, i + 1);
  }
  return std::make_pair(start, shape[dims[k]] * numel_of(spec.shape(), dims, k + 1));
}

// Whether every coordinate's elements of group `g` under `in` are exactly its chunk of the
// group's first output dim under `out` (times the elements behind one output row).
bool group_stays_local(const DTensorSpec& in, const DTensorSpec& out, const Group& g) {
  for (const auto& c : mesh_coordinates(in.mesh())) {
    auto r_in = group_range(in, g.in, c);
    if (!r_in) return false;
    auto [shape, offset] = out.local_shape_and_offset(c);
    const int64_t b = numel_of(out.shape(), g.out, 1), o = g.out.front();
    if (r_in->second != shape[o] * b || (r_in->second > 0 && r_in->first != offset[o] * b)) return false;
  }
  return true;
}

std::string describe_view(const OpCall& call, const std::vector<int64_t>& out_shape) {
  const auto& in = call.input(0);
  return c10::str(call.name(), " from [", c10::Join(", ", in.shape()), "] to [",
                  c10::Join(", ", out_shape), "] with placements ", to_string(in.placements()),
                  ": redistribute the tensor first (e.g. to Replicate on that dim), or use reshape, "
                  "which redistributes for you.");
}

// Why a group's shards cannot stay local, in PyTorch's words where it has them.
std::string strict_view_error(const DTensorSpec& in, const Group& g, const std::vector<int64_t>& sharded,
                              const std::vector<int64_t>& out_shape) {
  if (g.out.empty())
    return c10::str("Attempted to drop sharded dimension ", sharded.front(), " (of size 1) in a view");
  for (int64_t d : sharded)
    if (d != g.in.front() && in.shape()[d] != 1)
      return c10::str("Attempted to flatten sharded dimension ", d, ", but only the leftmost dim of a "
                      "Flatten can be sharded (several sharded dims of one flatten need outer mesh dims "
                      "sharding outer tensor dims, with single rows above the innermost sharded dim)");
  const int64_t d = sharded.front();
  return c10::str("Attempted to ", g.in.size() > 1 ? "flatten" : "split", " unevenly sharded dimension ", d,
                  " (size ", in.shape()[d], " over ", shards_of_dim(in.placements(), d, in.mesh()),
                  " shards), which would require resharding the input: its pieces are not whole pieces "
                  "of output dim ", g.out.front(), " (size ", out_shape[g.out.front()], ")");
}

// Input placements a view to `out_shape` needs, and the output placements.
std::pair<Placements, Placements> plan_view(const OpCall& call, const std::vector<int64_t>& out_shape,
                                            bool strict) {
  const auto& in = call.input(0);
  Placements in_p = in.placements();
  if (in.numel() == 0) {  // no elements to alias: any layout is free
    for (auto& p : in_p)
      if (p.is_shard()) p = Replicate{};
    return {in_p, in_p};
  }
  // Output dim of each input dim's shards: the first output dim of its group.
  const auto groups = view_groups(in.shape(), out_shape);
  std::vector<int64_t> target(in.ndim(), -1);
  for (const auto& g : groups)
    for (int64_t d : g.in) target[d] = g.out.empty() ? -1 : g.out.front();
  auto out_of = [&](const Placements& p) {
    Placements out = p;
    for (auto& x : out)
      if (x.is_shard()) x = Shard(target[x.shard_dim()]);
    return out;
  };
  for (const auto& g : groups) {
    while (true) {
      std::vector<int64_t> sharded;
      for (int64_t d : g.in)
        if (std::any_of(in_p.begin(), in_p.end(), [d](const Placement& x) { return x.is_shard(d); })) sharded.push_back(d);
      if (sharded.empty()) break;
      if (!g.out.empty()) {
        auto in_spec = in.with_placements(in_p);
        if (group_stays_local(*in_spec, *make_spec(in.mesh(), out_of(in_p), out_shape, in.dtype()), g)) break;
      }
      TORCH_CHECK(!strict, strict_view_error(*in.with_placements(in_p), g, sharded, out_shape), ". ",
                  describe_view(call, out_shape));
      in_p = unshard_dims(in_p, {sharded.back()});  // innermost first
    }
  }
  return {in_p, out_of(in_p)};
}

// Runs `fn(local self, local output shape)` in place of the op. A redistributed input is a
// fresh tensor in whatever layout the collective produced, which need not be viewable as the
// spec's strides promise: it is made contiguous first (it aliases nothing).
template <class Fn>
LocalFn with_local_shape(std::vector<int64_t> local_shape, bool redistributed, Fn fn) {
  return [local_shape = std::move(local_shape), redistributed, fn](const c10::OperatorHandle& op,
                                                                  torch::jit::Stack& stack) {
    const size_t n = op.schema().arguments().size();
    at::Tensor self = stack[stack.size() - n].toTensor();
    torch::jit::drop(stack, n);
    stack.emplace_back(fn(redistributed ? self.contiguous() : self, c10::IntArrayRef(local_shape)));
  };
}

// The op itself, on a contiguous copy of a redistributed input (see with_local_shape).
LocalFn contiguous_self() {
  return [](const c10::OperatorHandle& op, torch::jit::Stack& stack) {
    auto& self = stack[stack.size() - op.schema().arguments().size()];
    self = self.toTensor().contiguous();
    op.callBoxed(&stack);
  };
}

enum class ViewKind { View, UnsafeView, ReshapeAlias };

std::vector<OpStrategy> view_op(const OpCall& call, ViewKind kind) {
  const auto& in = call.input(0);
  const auto size = at::infer_size(call.int_list_arg(1), in.numel());
  std::vector<int64_t> stride;
  if (kind == ViewKind::ReshapeAlias) {
    stride = call.int_list_arg(2);
  } else {
    auto s = at::detail::computeStride(in.shape(), in.meta().stride, size);
    TORCH_CHECK(s.has_value(), "view size is not compatible with input tensor's size and stride (at "
                "least one dimension spans across two contiguous subspaces). Use .reshape(...) instead.");
    stride = std::move(*s);
  }
  auto [in_p, out_p] = plan_view(call, size, /*strict=*/kind == ViewKind::View);
  OpStrategy s = make_strategy({in_p}, out_p);
  s.output_meta = std::vector<TensorMeta>{TensorMeta{size, stride, in.dtype()}};
  s.local = with_local_shape(make_spec(in.mesh(), out_p, size, in.dtype())->local_shape(),
                             in_p != in.placements(), [kind](const at::Tensor& t, c10::IntArrayRef shape) {
                               return kind == ViewKind::UnsafeView ? at::_unsafe_view(t, shape) : t.view(shape);
                             });
  return {s};
}

// perm[j] = input dim of output dim j.
std::vector<OpStrategy> permute_like(const OpCall& call, const std::vector<int64_t>& perm) {
  Placements out = call.input(0).placements();
  for (auto& p : out) {
    if (!p.is_shard()) continue;
    p = Shard(std::find(perm.begin(), perm.end(), p.shard_dim()) - perm.begin());
  }
  return {make_strategy({call.input(0).placements()}, out)};
}

std::vector<int64_t> identity_perm(int64_t n) {
  std::vector<int64_t> p(n);
  for (int64_t i = 0; i < n; ++i) p[i] = i;
  return p;
}

std::vector<OpStrategy> transpose(const OpCall& call) {
  const int64_t nd = call.input(0).ndim();
  auto perm = identity_perm(nd);
  if (call.num_args() >= 3) {
    std::swap(perm[wrap_dim(call.int_arg(1), nd)], perm[wrap_dim(call.int_arg(2), nd)]);
  } else if (nd == 2) {
    std::swap(perm[0], perm[1]);  // t(); identity below 2 dims
  }
  return permute_like(call, perm);
}

std::vector<OpStrategy> permute(const OpCall& call) {
  const int64_t nd = call.input(0).ndim();
  auto perm = call.int_list_arg(1);
  for (auto& d : perm) d = wrap_dim(d, nd);
  return permute_like(call, perm);
}

std::vector<OpStrategy> unsqueeze(const OpCall& call) {
  const int64_t dim = wrap_dim(call.int_arg(1), call.input(0).ndim() + 1);
  return {make_strategy({call.input(0).placements()}, shift_after_insert(call.input(0).placements(), dim))};
}

// squeeze, squeeze.dim and their in-place forms (which keep self's placements: squeezing a
// sharded size-1 dim in place raises in the dispatcher).
std::vector<OpStrategy> squeeze(const OpCall& call, bool inplace) {
  const auto& in = call.input(0);
  std::vector<int64_t> dims;  // global size-1 dims being removed
  if (call.num_args() >= 2) {
    const int64_t d = wrap_dim(call.int_arg(1), in.ndim());
    if (in.ndim() > 0 && in.shape()[d] == 1) dims.push_back(d);
  } else {
    for (int64_t d = 0; d < in.ndim(); ++d)
      if (in.shape()[d] == 1) dims.push_back(d);
  }
  const Placements in_p = unshard_dims(in.placements(), dims);
  Placements out = in_p;
  for (auto it = dims.rbegin(); it != dims.rend(); ++it) out = skip_dim(out, *it);
  OpStrategy s = make_strategy({in_p}, out);
  s.local = [dims, inplace](const c10::OperatorHandle& op, torch::jit::Stack& stack) {
    const size_t n = op.schema().arguments().size();
    at::Tensor t = stack[stack.size() - n].toTensor();
    torch::jit::drop(stack, n);
    at::Tensor r = inplace ? t : t.alias();
    for (auto it = dims.rbegin(); it != dims.rend(); ++it) r = inplace ? r.squeeze_(*it) : r.squeeze(*it);
    stack.emplace_back(std::move(r));
  };
  return {s};
}

std::vector<OpStrategy> expand(const OpCall& call) {
  const auto& in = call.input(0);
  auto size = call.int_list_arg(1);
  const int64_t lead = static_cast<int64_t>(size.size()) - in.ndim();
  TORCH_CHECK(lead >= 0, "expand: the number of sizes provided (", size.size(), ") must be greater or "
              "equal to the number of dimensions in the tensor (", in.ndim(), ")");
  for (int64_t j = lead; j < static_cast<int64_t>(size.size()); ++j)
    if (size[j] == -1) size[j] = in.shape()[j - lead];
  std::vector<int64_t> broadcast;
  for (int64_t d = 0; d < in.ndim(); ++d)
    if (in.shape()[d] == 1 && size[d + lead] != 1) broadcast.push_back(d);
  const Placements in_p = unshard_dims(in.placements(), broadcast);
  Placements out = in_p;
  for (auto& p : out)
    if (p.is_shard()) p = Shard(p.shard_dim() + lead);
  OpStrategy s = make_strategy({in_p}, out);
  s.local = with_local_shape(make_spec(in.mesh(), out, size, in.dtype())->local_shape(), false,
                             [](const at::Tensor& t, c10::IntArrayRef shape) { return t.expand(shape); });
  return {s};
}

std::vector<OpStrategy> as_strided(const OpCall& call) {
  C10_THROW_ERROR(NotImplementedError,
                  c10::str("dtensor: as_strided is not supported on DTensors (input ", call.input(0),
                           "): its sizes, strides and storage offset address the storage of the global "
                           "tensor, which no rank holds. Use view ops (view, slice, select, transpose...), "
                           "or call as_strided on to_local()/full_tensor(). Autograd calls as_strided for "
                           "in-place ops on views of tensors that require grad: write into the base tensor "
                           "instead (e.g. index_put_, or an out-of-place op)."));
}

std::vector<OpStrategy> view_as_real(const OpCall& call) {
  return {make_strategy({call.input(0).placements()}, call.input(0).placements())};
}

std::vector<OpStrategy> view_as_complex(const OpCall& call) {
  const auto& in = call.input(0);
  const Placements in_p = unshard_dims(in.placements(), {in.ndim() - 1});
  OpStrategy s = make_strategy({in_p}, in_p);
  if (in_p != in.placements()) s.local = contiguous_self();  // needs a unit last stride
  return {s};
}

// view(dtype): reinterprets bits, so Partial sums are meaningless; a different element size
// rescales the last dim.
std::vector<OpStrategy> view_dtype(const OpCall& call) {
  const auto& in = call.input(0);
  const auto dtype = call.arg(1).toScalarType();
  Placements p = without_partial(in.placements());
  const int64_t from = c10::elementSize(in.dtype()), to = c10::elementSize(dtype);
  if (from != to && in.ndim() > 0) {
    const int64_t last = in.ndim() - 1;
    auto shape = in.shape();
    shape[last] = shape[last] * from / to;
    const bool exact = blocks_match(in, last, *make_spec(in.mesh(), p, shape, dtype), last,
                                    [from, to](int64_t io, int64_t is, int64_t oo, int64_t os) {
                                      return io * from == oo * to && is * from == os * to;
                                    });
    if (!exact) p = unshard_dims(p, {last});
  }
  OpStrategy s = make_strategy({p}, p);
  if (from != to) {
    // A new element size needs a unit last stride and divisible other strides: an empty piece
    // (strides of 1) or a redistributed copy may lack them, and neither aliases anything.
    auto shape = in.shape();
    if (!shape.empty()) shape.back() = shape.back() * from / to;
    s.local = [local_shape = make_spec(in.mesh(), p, shape, dtype)->local_shape(), dtype,
               redistributed = p != in.placements()](const c10::OperatorHandle& op, torch::jit::Stack& stack) {
      at::Tensor self = stack[stack.size() - 2].toTensor();
      torch::jit::drop(stack, 2);
      if (self.numel() == 0) stack.emplace_back(at::empty(local_shape, self.options().dtype(dtype)));
      else stack.emplace_back((redistributed ? self.contiguous() : self).view(dtype));
    };
  }
  return {s};
}

// Dims `a` and `b` are combined into the output's last dim; the others keep their order.
Placements without_two_dims(const Placements& p, int64_t a, int64_t b) {
  return skip_dim(skip_dim(p, std::max(a, b)), std::min(a, b));
}

std::vector<OpStrategy> diagonal(const OpCall& call) {
  const auto& in = call.input(0);
  const int64_t d1 = wrap_dim(call.arg("dim1").toInt(), in.ndim()),
                d2 = wrap_dim(call.arg("dim2").toInt(), in.ndim());
  const Placements in_p = unshard_dims(in.placements(), {d1, d2});
  return {make_strategy({in_p}, without_two_dims(in_p, d1, d2))};
}

// diagonal_backward(grad, input_sizes, offset, dim1, dim2): grad's dims are the input's without
// dim1/dim2, plus the diagonal last; the output has input_sizes (local ones on each rank).
std::vector<OpStrategy> diagonal_backward(const OpCall& call) {
  const auto& grad = call.input(0);
  const auto sizes = call.int_list_arg(1);
  const int64_t nd = static_cast<int64_t>(sizes.size());
  const int64_t d1 = wrap_dim(call.int_arg(3), nd), d2 = wrap_dim(call.int_arg(4), nd);
  const Placements g_p = unshard_dims(grad.placements(), {grad.ndim() - 1});
  Placements out = g_p;
  for (auto& p : out) {
    if (!p.is_shard()) continue;
    int64_t d = p.shard_dim();  // position among the input dims other than d1, d2
    for (int64_t k : {std::min(d1, d2), std::max(d1, d2)})
      if (d >= k) ++d;
    p = Shard(d);
  }
  OpStrategy s = make_strategy({g_p}, out);
  s.local = with_args({{1, make_spec(grad.mesh(), out, sizes, grad.dtype())->local_shape()}});
  return {s};
}

// unfold(dimension, size, step): windows along `dimension`, window elements in a new last dim.
std::vector<OpStrategy> unfold(const OpCall& call) {
  const auto& in = call.input(0);
  const Placements p = unshard_dims(in.placements(), {wrap_dim(call.int_arg(1), in.ndim())});
  return {make_strategy({p}, p)};
}

// unfold_backward(grad, input_sizes, dim, size, step): grad has the unfold output's dims; the
// windowed dim and the window dim must be whole; the output has input_sizes (local ones).
std::vector<OpStrategy> unfold_backward(const OpCall& call) {
  const auto& grad = call.input(0);
  const auto sizes = call.int_list_arg(1);
  const int64_t dim = wrap_dim(call.int_arg(2), static_cast<int64_t>(sizes.size()));
  const Placements g_p = unshard_dims(grad.placements(), {dim, grad.ndim() - 1});
  OpStrategy s = make_strategy({g_p}, g_p);
  s.local = with_args({{1, make_spec(grad.mesh(), g_p, sizes, grad.dtype())->local_shape()}});
  s.output_meta = std::vector<TensorMeta>{contiguous_meta(sizes, grad.dtype())};  // no meta kernel
  return {s};
}

}  // namespace

DTENSOR_RULES(views) {
  register_rule("aten::view", [](const OpCall& c) { return view_op(c, ViewKind::View); });
  register_rule("aten::_unsafe_view", [](const OpCall& c) { return view_op(c, ViewKind::UnsafeView); });
  register_rule("aten::_reshape_alias", [](const OpCall& c) { return view_op(c, ViewKind::ReshapeAlias); });
  // In-place forms change self's shape and placements (the dispatcher installs the new spec).
  register_rule({"aten::t", "aten::transpose.int", "aten::t_", "aten::transpose_"}, transpose);
  register_rule("aten::permute", permute);
  register_rule({"aten::unsqueeze", "aten::unsqueeze_"}, unsqueeze);
  register_rule({"aten::squeeze", "aten::squeeze.dim"}, [](const OpCall& c) { return squeeze(c, false); });
  register_rule({"aten::squeeze_", "aten::squeeze_.dim"}, [](const OpCall& c) { return squeeze(c, true); });
  register_rule("aten::expand", expand);
  register_rule("aten::as_strided", as_strided);
  register_rule("aten::view_as_real", view_as_real);
  register_rule("aten::view_as_complex", view_as_complex);
  register_rule("aten::view.dtype", view_dtype);
  register_rule("aten::diagonal", diagonal);
  register_rule("aten::diagonal_backward", diagonal_backward);
  register_rule("aten::unfold", unfold);
  register_rule("aten::unfold_backward", unfold_backward);
}

}  // namespace dtensor::ops
