// Slicing and indexing ops: slice, select and their backwards, index_select, gather, scatter,
// index, index_put, index_add/copy/fill, slice_scatter/select_scatter, take, put.
//
// Which element goes where depends on positions along the sliced / indexed dim, so a shard of
// that dim can only be kept when each rank's rows map onto its own rows of the output:
//   slice(start, end, step) of a sharded dim keeps the shard when, on every mesh coordinate, the
//     rows the slice takes from the rank's block are exactly the rank's torch.chunk block of the
//     output (e.g. x[:, :-1] of 8 rows over 4 ranks: blocks 2,2,2,1). The local op is then the
//     slice of the local shard with rank-dependent bounds (a view of the shard). Otherwise the
//     dim is replicated first, as in PyTorch. slice_backward mirrors this: a gradient sharded that
//     way scatters into the matching blocks of the input's shape locally.
//   select of a sharded dim: exactly one rank holds the row; it returns a view of it and every
//     other rank zeros, which is the row as a Partial(sum), with no communication (PyTorch
//     replicates the whole input first). A later reduction moves only the row.
//   Lookups (gather, index_select, index) along a sharded dim use the same idea (PyTorch's
//     _MaskPartial, here for any index shape): each rank looks up the indices that fall in its
//     block (shifted to local positions; the others read row 0 and are zeroed), so the results
//     sum to the lookup on the whole tensor: Partial(sum). Bool tensors (not summable by the
//     collectives) replicate the dim instead.
// Other ways to shard, per mesh dim:
//   - a dim the op does not index stays sharded when every operand that is aligned with it has
//     the same size there (gather/scatter index and src against self);
//   - sharding the index of gather / index_select along the looked-up dim (or of index along a
//     broadcast index dim) shards the output there, the input replicated;
//   - Partial passes through selections (any reduce op: selecting commutes with elementwise
//     reduction) and through overwrites whose written values are Partial too (where-like:
//     scatter.src, index_put, index_copy, slice_scatter, select_scatter); additive writes
//     (scatter_add, index_add, accumulating index_put) pass sum/avg only; constant fills do not.
// In-place variants only use strategies that keep `self` as it is.
//
// Index tensors must be DTensors (or 1-element / under ImplicitReplicationGuard). Boolean-mask
// indexing (x[mask], masked_select, nonzero) has a data-dependent output shape, which a cached
// sharding decision cannot describe: those raise with a hint.
//
// index_select, index_put, take, put (and the in-place forms), slice_scatter and select_scatter
// have their own autograd kernel (ops/derivatives.h): libtorch's builds a gradient from plain
// zeros.
#include <functional>

#include <ATen/ExpandUtils.h>

#include "ops/common.h"
#include "ops/derivatives.h"

namespace dtensor::ops {
namespace {

bool is_sharded(const Placements& p, int64_t dim) {
  return std::any_of(p.begin(), p.end(), [dim](const Placement& x) { return x.is_shard(dim); });
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// slice's bounds as ATen normalises them.
struct SliceBounds {
  int64_t dim, start, end, step;
  int64_t length() const { return end > start ? ceil_div(end - start, step) : 0; }
  // Output rows [first, first + count) that the slice takes from input rows [off, off + size).
  std::pair<int64_t, int64_t> rows_from(int64_t off, int64_t size) const {
    const int64_t lo = std::max(off, start), hi = std::min(off + size, end);
    if (hi <= lo) return {0, 0};
    const int64_t first = ceil_div(lo - start, step);
    return {first, ceil_div(hi - start, step) - first};
  }
  // Bounds of the same slice on a shard holding input rows [off, off + size).
  std::pair<int64_t, int64_t> local(int64_t off, int64_t size) const {
    auto [first, count] = rows_from(off, size);
    if (count == 0) return {0, 0};
    const int64_t s = start + first * step - off;
    return {s, s + (count - 1) * step + 1};
  }
  bool full(int64_t size) const { return start == 0 && end == size && step == 1; }
};

SliceBounds slice_bounds(const std::vector<int64_t>& shape, const c10::IValue& dim,
                         const c10::IValue& start, const c10::IValue& end, const c10::IValue& step) {
  TORCH_CHECK_INDEX(!shape.empty(), "slice() cannot be applied to a 0-dim tensor.");
  SliceBounds b;
  b.dim = wrap_dim(dim.toInt(), static_cast<int64_t>(shape.size()));
  const int64_t size = shape[b.dim];
  b.step = step.toInt();
  TORCH_CHECK(b.step > 0, "slice step must be positive");
  b.start = start.isNone() ? 0 : start.toInt();
  b.end = end.isNone() ? size : end.toInt();
  if (b.start < 0) b.start += size;
  if (b.end < 0) b.end += size;
  b.start = std::min(std::max<int64_t>(b.start, 0), size);
  b.end = std::min(std::max(b.end, b.start), size);
  return b;
}

// Keeps Shard(dim) when the sliced rows of every block of `full_spec` are the blocks of
// `sliced_spec` (both laid out with the same placements).
bool slice_keeps_shard(const DTensorSpec& full_spec, const DTensorSpec& sliced_spec, const SliceBounds& b) {
  return blocks_match(full_spec, b.dim, sliced_spec, b.dim, [&b](int64_t fo, int64_t fs, int64_t so, int64_t ss) {
    auto [first, count] = b.rows_from(fo, fs);
    return count == ss && (count == 0 || first == so);
  });
}

std::vector<OpStrategy> slice(const OpCall& call) {
  const auto& in = call.input(0);
  const auto b = slice_bounds(in.shape(), call.arg(1), call.arg(2), call.arg(3), call.arg(4));
  const Placements& p = in.placements();
  if (!is_sharded(p, b.dim) || b.full(in.shape()[b.dim])) return {make_strategy({p}, p)};
  auto shape = in.shape();
  shape[b.dim] = b.length();
  if (slice_keeps_shard(in, *make_spec(in.mesh(), p, shape, in.dtype()), b)) {
    auto [off, size] = local_block(in, b.dim);
    auto [s, e] = b.local(off, size);
    OpStrategy st = make_strategy({p}, p);
    st.local = with_args({{2, s}, {3, e}});
    return {st};
  }
  const Placements q = unshard_dims(p, {b.dim});
  return {make_strategy({q}, q)};
}

// slice_backward(grad, input_sizes, dim, start, end, step): grad scattered into zeros of
// input_sizes.
std::vector<OpStrategy> slice_backward(const OpCall& call) {
  const auto& grad = call.input(0);
  const auto sizes = call.int_list_arg(1);
  const auto b = slice_bounds(sizes, call.arg(2), call.arg(3), call.arg(4), call.arg(5));
  Placements p = grad.placements();
  std::vector<std::pair<int, c10::IValue>> local_args;
  if (is_sharded(p, b.dim)) {
    auto full = make_spec(grad.mesh(), p, sizes, grad.dtype());
    if (slice_keeps_shard(*full, grad, b)) {
      auto [off, size] = local_block(*full, b.dim);
      auto [s, e] = b.local(off, size);
      local_args = {{3, s}, {4, e}};
    } else {
      p = unshard_dims(p, {b.dim});
    }
  }
  auto local_sizes = make_spec(grad.mesh(), p, sizes, grad.dtype())->local_shape();
  local_args.emplace_back(1, local_sizes);
  OpStrategy st = make_strategy({p}, p);
  // ATen pads the gradient back with constant_pad_nd, which rejects an empty dim: an empty local
  // gradient scatters into zeros.
  st.local = [run = with_args(std::move(local_args)), local_sizes](const c10::OperatorHandle& op,
                                                                    torch::jit::Stack& stack) {
    const at::Tensor g = stack[stack.size() - 6].toTensor();
    if (g.numel() != 0) return run(op, stack);
    torch::jit::drop(stack, 6);
    stack.emplace_back(at::zeros(local_sizes, g.options()));
  };
  return {st};
}

std::vector<OpStrategy> select(const OpCall& call) {
  const auto& in = call.input(0);
  TORCH_CHECK_INDEX(in.ndim() > 0, "select() cannot be applied to a 0-dim tensor.");
  const int64_t dim = wrap_dim(call.int_arg(1), in.ndim());
  const int64_t size = in.shape()[dim];
  int64_t index = call.int_arg(2);
  TORCH_CHECK_INDEX(index >= -size && index < size, "select(): index ", index, " out of range for tensor "
                    "of size [", c10::Join(", ", in.shape()), "] at dimension ", dim);
  if (index < 0) index += size;
  const Placements& p = in.placements();
  if (!is_sharded(p, dim)) return {make_strategy({p}, skip_dim(p, dim))};
  if (!summable(in.dtype())) {
    const Placements q = unshard_dims(p, {dim});
    return {make_strategy({q}, skip_dim(q, dim))};
  }
  Placements out = p;
  for (auto& x : out)
    if (x.is_shard(dim)) x = Partial("sum");
  out = skip_dim(out, dim);
  OpStrategy st = make_strategy({p}, out);
  auto [off, local_size] = local_block(in, dim);
  if (index >= off && index < off + local_size) {
    st.local = with_args({{2, index - off}});
  } else {
    auto shape = in.shape();
    shape.erase(shape.begin() + dim);
    st.local = [local_shape = make_spec(in.mesh(), out, shape, in.dtype())->local_shape()](
                   const c10::OperatorHandle& op, torch::jit::Stack& stack) {
      const size_t n = op.schema().arguments().size();
      const auto options = stack[stack.size() - n].toTensor().options();
      torch::jit::drop(stack, n);
      stack.emplace_back(at::zeros(local_shape, options));
    };
  }
  return {st};
}

// select_backward(grad, input_sizes, dim, index): grad placed into zeros of input_sizes.
std::vector<OpStrategy> select_backward(const OpCall& call) {
  const auto& grad = call.input(0);
  const auto sizes = call.int_list_arg(1);
  const int64_t dim = wrap_dim(call.int_arg(2), static_cast<int64_t>(sizes.size()));
  const Placements out = shift_after_insert(grad.placements(), dim);
  OpStrategy st = make_strategy({grad.placements()}, out);
  st.local = with_args({{1, make_spec(grad.mesh(), out, sizes, grad.dtype())->local_shape()}});
  return {st};
}

// ---- Lookups along a sharded dim ----------------------------------------------------------------

// `index` shifted to positions in a shard holding rows [off, off + size); positions outside the
// shard read row 0. Returns {shifted index, outside mask}.
std::pair<at::Tensor, at::Tensor> shift_into_shard(const at::Tensor& index, int64_t off, int64_t size) {
  at::Tensor shifted = index - off;
  at::Tensor outside = shifted.lt(0).logical_or_(shifted.ge(size));
  return {shifted.masked_fill_(outside, 0), outside};
}

// A local function pushing zeros of `shape` with self's options: a shard with no rows of the
// looked-up dim contributes nothing.
void push_zeros(const c10::OperatorHandle& op, torch::jit::Stack& stack, c10::IntArrayRef shape) {
  const size_t n = op.schema().arguments().size();
  const auto options = stack[stack.size() - n].toTensor().options();
  torch::jit::drop(stack, n);
  stack.emplace_back(at::zeros(shape, options));
}

// Gives every strategy whose self is sharded along the looked-up `dim` (output Partial("sum")) a
// local function: each rank looks up with `lookup(stack, off, size)`, which pops the op's arguments
// and returns the lookup of the indices falling in its rows [off, off + size) with the others
// zeroed; a rank holding no rows of `dim` pushes zeros of the local output shape.
using ShardLookup = std::function<at::Tensor(torch::jit::Stack&, int64_t off, int64_t size)>;
void lookup_in_shards(std::vector<OpStrategy>& strategies, const DTensorSpec& self, int64_t dim,
                      const std::vector<int64_t>& out_shape, const ShardLookup& lookup) {
  for (auto& s : strategies) {
    if (!is_sharded(s.inputs[0], dim)) continue;
    auto [off, size] = local_block(*self.with_placements(s.inputs[0]), dim);
    auto out_local = make_spec(self.mesh(), *s.outputs[0], out_shape, self.dtype())->local_shape();
    s.local = [off = off, size = size, out_local, lookup](const c10::OperatorHandle& op, torch::jit::Stack& stack) {
      if (size == 0) return push_zeros(op, stack, out_local);
      stack.emplace_back(lookup(stack, off, size));
    };
  }
}

// The Partial op of placement `x` when it is one, for pass-through rows.
std::optional<Placement> partial_of(const Placement& x) {
  if (x.is_partial()) return x;
  return std::nullopt;
}

std::vector<OpStrategy> index_select(const OpCall& call) {
  const auto& self = call.input(0);
  const auto& index = call.input(1);
  const int64_t dim = wrap_dim(call.int_arg(1), self.ndim());
  std::vector<std::vector<std::vector<Placement>>> options(call.mesh_ndim());
  for (int64_t m = 0; m < call.mesh_ndim(); ++m) {
    auto& rows = options[m];
    rows.push_back({Replicate{}, Replicate{}, Replicate{}});
    for (int64_t d = 0; d < self.ndim(); ++d)
      if (d != dim) rows.push_back({Shard(d), Replicate{}, Shard(d)});
    if (index.ndim() == 1) rows.push_back({Replicate{}, Shard(0), Shard(dim)});
    if (auto p = partial_of(self.placements()[m])) rows.push_back({*p, Replicate{}, *p});
    if (summable(self.dtype()) && self.ndim() > 0) rows.push_back({Shard(dim), Replicate{}, Partial("sum")});
  }
  auto out_shape = self.shape();
  if (self.ndim() > 0) out_shape[dim] = index.numel();
  auto strategies = combine_mesh_dims(options, 2, 1);
  for (auto& s : strategies) s.output_meta = std::vector<TensorMeta>{contiguous_meta(out_shape, self.dtype())};
  lookup_in_shards(strategies, self, dim, out_shape, [dim](torch::jit::Stack& stack, int64_t off, int64_t size) {
    at::Tensor local = stack[stack.size() - 3].toTensor(), idx = stack[stack.size() - 1].toTensor();
    torch::jit::drop(stack, 3);
    auto [shifted, outside] = shift_into_shard(idx, off, size);
    at::Tensor out = at::index_select(local, dim, shifted);
    std::vector<int64_t> mask_shape(out.dim(), 1);
    mask_shape[dim] = outside.numel();
    return out.masked_fill_(outside.reshape(mask_shape), 0);
  });
  return strategies;
}

std::vector<OpStrategy> gather(const OpCall& call) {
  const auto& self = call.input(0);
  const auto& index = call.input(1);
  const int64_t dim = wrap_dim(call.int_arg(1), self.ndim());
  std::vector<std::vector<std::vector<Placement>>> options(call.mesh_ndim());
  for (int64_t m = 0; m < call.mesh_ndim(); ++m) {
    auto& rows = options[m];
    rows.push_back({Replicate{}, Replicate{}, Replicate{}});
    if (self.ndim() > 0) rows.push_back({Replicate{}, Shard(dim), Shard(dim)});
    for (int64_t d = 0; d < self.ndim(); ++d)
      if (d != dim && self.shape()[d] == index.shape()[d]) rows.push_back({Shard(d), Shard(d), Shard(d)});
    if (auto p = partial_of(self.placements()[m])) rows.push_back({*p, Replicate{}, *p});
    if (summable(self.dtype()) && self.ndim() > 0) rows.push_back({Shard(dim), Replicate{}, Partial("sum")});
  }
  auto strategies = combine_mesh_dims(options, 2, 1);
  lookup_in_shards(strategies, self, dim, index.shape(), [dim](torch::jit::Stack& stack, int64_t off, int64_t size) {
    at::Tensor local = stack[stack.size() - 4].toTensor(), idx = stack[stack.size() - 2].toTensor();
    const bool sparse = stack.back().toBool();
    torch::jit::drop(stack, 4);
    auto [shifted, outside] = shift_into_shard(idx, off, size);
    return at::gather(local, dim, shifted, sparse).masked_fill_(outside, 0);
  });
  return strategies;
}

// ---- Writes at indices --------------------------------------------------------------------------

enum class Write {
  Overwrite,  // written values replace self's (where-like): Partial passes when both are Partial
  Add,        // written values add up: Partial(sum|avg) passes
  Other,      // constant fills and reductions: no Partial
};

bool partial_passes(const Placement& p, Write w) {
  if (w == Write::Overwrite) return true;
  if (w == Write::Add) return sum_like_partial(p);
  return false;
}

// The Partial placement on mesh dim m of self or of the written source (input `src`), if any.
std::optional<Placement> partial_on(const OpCall& call, int64_t m, int src) {
  if (call.input(0).placements()[m].is_partial()) return call.input(0).placements()[m];
  if (src >= 0 && call.input(src).placements()[m].is_partial()) return call.input(src).placements()[m];
  return std::nullopt;
}

// scatter family: (self, dim, index, src | value, ...).
std::vector<OpStrategy> scatter(const OpCall& call, Write write, bool inplace) {
  const auto& self = call.input(0);
  const auto& index = call.input(1);
  const bool has_src = call.num_inputs() == 3;
  const int64_t dim = wrap_dim(call.int_arg(1), self.ndim());
  const size_t n = call.num_inputs();
  std::vector<std::vector<std::vector<Placement>>> options(call.mesh_ndim());
  for (int64_t m = 0; m < call.mesh_ndim(); ++m) {
    auto& rows = options[m];
    rows.emplace_back(n + 1, Replicate{});
    for (int64_t d = 0; d < self.ndim(); ++d) {
      const bool aligned = d != dim && self.shape()[d] == index.shape()[d] &&
                           (!has_src || call.input(2).shape()[d] == index.shape()[d]);
      if (aligned) rows.emplace_back(n + 1, Shard(d));
    }
    auto p = partial_on(call, m, has_src ? 2 : -1);
    if (p && has_src && partial_passes(*p, write)) rows.push_back({*p, Replicate{}, *p, *p});
  }
  auto strategies = combine_mesh_dims(options, n, 1);
  return inplace ? keep_self_placements(call, std::move(strategies)) : strategies;
}

// Layout of self[indices] (advanced indexing with Tensor?[] indices): the broadcast index shape
// replaces the indexed dims, in place when they are adjacent, else in front.
struct IndexLayout {
  std::vector<int64_t> indexed;     // self dims with an index tensor, in order
  std::vector<size_t> inputs;       // the OpCall input of each
  std::vector<int64_t> broadcast;   // broadcast shape of the index tensors
  int64_t insert = 0;               // output position of the broadcast dims
  std::vector<int64_t> out_pos;     // output position of each self dim (-1: indexed)
  std::vector<int64_t> out_shape;
};

IndexLayout index_layout(const OpCall& call, int indices_arg) {
  const auto& self = call.input(0);
  IndexLayout l;
  const auto list = call.arg(indices_arg).toListRef();
  TORCH_CHECK_INDEX(static_cast<int64_t>(list.size()) <= self.ndim(), "too many indices for tensor of "
                    "dimension ", self.ndim(), " (got ", list.size(), ")");
  size_t k = 1;
  for (size_t i = 0; i < list.size(); ++i) {
    if (!list[i].isTensor() || !list[i].toTensor().defined()) continue;
    const auto dtype = call.input(k).dtype();
    TORCH_CHECK_NOT_IMPLEMENTED(dtype != at::kBool && dtype != at::kByte, "dtensor: ", call.name(),
                                " with a boolean mask index has a data-dependent shape, which DTensor "
                                "sharding propagation cannot describe. Use where/masked_fill, convert "
                                "the mask to integer indices on a replicated tensor, or index "
                                "full_tensor()/to_local().");
    l.indexed.push_back(static_cast<int64_t>(i));
    l.inputs.push_back(k++);
  }
  l.broadcast = broadcast_shapes(call, l.inputs);
  bool adjacent = true;
  for (size_t i = 1; i < l.indexed.size(); ++i) adjacent = adjacent && l.indexed[i] == l.indexed[i - 1] + 1;
  l.insert = adjacent && !l.indexed.empty() ? l.indexed.front() : 0;
  const int64_t nb = static_cast<int64_t>(l.broadcast.size());
  l.out_pos.assign(self.ndim(), -1);
  int64_t rank = 0;  // rank of a dim among the non-indexed ones
  for (int64_t d = 0; d < self.ndim(); ++d) {
    if (std::find(l.indexed.begin(), l.indexed.end(), d) != l.indexed.end()) continue;
    l.out_pos[d] = adjacent && d < l.insert ? d : nb + rank;
    ++rank;
  }
  l.out_shape.assign(rank + nb, 0);
  for (int64_t d = 0; d < self.ndim(); ++d)
    if (l.out_pos[d] >= 0) l.out_shape[l.out_pos[d]] = self.shape()[d];
  for (int64_t b = 0; b < nb; ++b) l.out_shape[l.insert + b] = l.broadcast[b];
  return l;
}

// Placement of an operand of shape `shape`, broadcast against a result of shape `result`, for a
// result sharded on dim r: the aligned dim, or Replicate where the operand lacks or broadcasts it.
Placement aligned(const std::vector<int64_t>& shape, const std::vector<int64_t>& result, int64_t r) {
  const int64_t d = r - static_cast<int64_t>(result.size() - shape.size());
  if (d < 0 || shape[d] != result[r]) return Replicate{};
  return Shard(d);
}

std::vector<OpStrategy> index(const OpCall& call) {
  const auto& self = call.input(0);
  const IndexLayout l = index_layout(call, 1);
  const size_t n = call.num_inputs();
  std::vector<std::vector<std::vector<Placement>>> options(call.mesh_ndim());
  for (int64_t m = 0; m < call.mesh_ndim(); ++m) {
    auto& rows = options[m];
    rows.emplace_back(n + 1, Replicate{});
    for (int64_t d = 0; d < self.ndim(); ++d) {
      if (l.out_pos[d] >= 0) {
        std::vector<Placement> r(n + 1, Replicate{});
        r.front() = Shard(d);
        r.back() = Shard(l.out_pos[d]);
        rows.push_back(std::move(r));
      } else if (summable(self.dtype())) {  // indexed: masked lookup
        std::vector<Placement> r(n + 1, Replicate{});
        r.front() = Shard(d);
        r.back() = Partial("sum");
        rows.push_back(std::move(r));
      }
    }
    for (int64_t b = 0; b < static_cast<int64_t>(l.broadcast.size()); ++b) {
      if (l.broadcast[b] == 1) continue;
      std::vector<Placement> r(n + 1, Replicate{});
      for (size_t k : l.inputs) r[k] = aligned(call.input(k).shape(), l.broadcast, b);
      r.back() = Shard(l.insert + b);
      rows.push_back(std::move(r));
    }
    if (auto p = partial_of(self.placements()[m])) {
      std::vector<Placement> r(n + 1, Replicate{});
      r.front() = r.back() = *p;
      rows.push_back(std::move(r));
    }
  }
  auto strategies = combine_mesh_dims(options, n, 1);
  for (auto& s : strategies) {
    // Shards of indexed dims: {position in the indices list, offset, size}.
    std::vector<std::array<int64_t, 3>> masked;
    auto target = self.with_placements(s.inputs[0]);
    for (int64_t d : l.indexed)
      if (is_sharded(s.inputs[0], d)) {
        auto [off, size] = local_block(*target, d);
        masked.push_back({d, off, size});
      }
    if (masked.empty()) continue;
    auto out_local = make_spec(self.mesh(), *s.outputs[0], l.out_shape, self.dtype())->local_shape();
    s.local = [masked, out_local, insert = l.insert](const c10::OperatorHandle& op, torch::jit::Stack& stack) {
      for (const auto& x : masked)
        if (x[2] == 0) return push_zeros(op, stack, out_local);
      at::Tensor local = stack[stack.size() - 2].toTensor();
      auto indices = stack.back().toOptionalTensorList();
      torch::jit::drop(stack, 2);
      std::vector<at::Tensor> outside;
      for (const auto& x : masked) {
        auto [shifted, out_of_shard] = shift_into_shard(*indices.get(x[0]), x[1], x[2]);
        indices.set(x[0], shifted);
        outside.push_back(out_of_shard);
      }
      at::Tensor out = at::index(local, indices);
      at::Tensor mask = outside.front();
      for (size_t i = 1; i < outside.size(); ++i) mask = mask.logical_or(outside[i]);
      // The mask covers the broadcast index dims, which sit at `insert` in the output.
      std::vector<int64_t> index_shape;
      for (size_t i = 0; i < indices.size(); ++i) {
        auto t = indices.get(i);
        if (t.has_value() && t->defined()) index_shape = at::infer_size(index_shape, t->sizes());
      }
      mask = mask.expand(index_shape);
      std::vector<int64_t> mask_shape(out.dim(), 1);
      std::copy(index_shape.begin(), index_shape.end(), mask_shape.begin() + insert);
      stack.emplace_back(out.masked_fill_(mask.reshape(mask_shape), 0));
    };
  }
  return strategies;
}

// index_put(self, indices, values, accumulate[, unsafe]) and its in-place forms.
std::vector<OpStrategy> index_put(const OpCall& call, bool inplace) {
  const auto& self = call.input(0);
  const IndexLayout l = index_layout(call, 1);
  const size_t n = call.num_inputs();
  const size_t values = n - 1;
  const Write write = call.arg("accumulate").toBool() ? Write::Add : Write::Overwrite;
  std::vector<std::vector<std::vector<Placement>>> options(call.mesh_ndim());
  for (int64_t m = 0; m < call.mesh_ndim(); ++m) {
    auto& rows = options[m];
    rows.emplace_back(n + 1, Replicate{});
    for (int64_t d = 0; d < self.ndim(); ++d) {
      if (l.out_pos[d] < 0) continue;
      std::vector<Placement> r(n + 1, Replicate{});
      r.front() = r.back() = Shard(d);
      r[values] = aligned(call.input(values).shape(), l.out_shape, l.out_pos[d]);
      rows.push_back(std::move(r));
    }
    auto p = partial_on(call, m, static_cast<int>(values));
    if (p && partial_passes(*p, write)) {
      std::vector<Placement> r(n + 1, Replicate{});
      r.front() = r[values] = r.back() = *p;
      rows.push_back(std::move(r));
    }
  }
  auto strategies = combine_mesh_dims(options, n, 1);
  return inplace ? keep_self_placements(call, std::move(strategies)) : strategies;
}

// index_add / index_copy / index_fill(self, dim, index, source | value): rows of self at `index`
// along dim receive source's rows (or the value).
std::vector<OpStrategy> index_write(const OpCall& call, Write write, bool inplace) {
  const auto& self = call.input(0);
  const int64_t dim = wrap_dim(call.int_arg(1), self.ndim());
  const size_t n = call.num_inputs();
  const int src = call.input_of_arg(3);
  std::vector<std::vector<std::vector<Placement>>> options(call.mesh_ndim());
  for (int64_t m = 0; m < call.mesh_ndim(); ++m) {
    auto& rows = options[m];
    rows.emplace_back(n + 1, Replicate{});
    for (int64_t d = 0; d < self.ndim(); ++d) {
      if (d == dim) continue;
      std::vector<Placement> r(n + 1, Shard(d));
      r[1] = Replicate{};  // the index
      if (src >= 0 && call.input(src).ndim() == 0) r[src] = Replicate{};  // index_fill's value
      rows.push_back(std::move(r));
    }
    auto p = partial_on(call, m, src);
    if (p && src >= 0 && partial_passes(*p, write)) rows.push_back({*p, Replicate{}, *p, *p});
  }
  auto strategies = combine_mesh_dims(options, n, 1);
  return inplace ? keep_self_placements(call, std::move(strategies)) : strategies;
}

// slice_scatter(self, src, dim, start, end, step) / select_scatter(self, src, dim, index): src
// fills a slice / row of self; the dim must be whole, other dims line up.
std::vector<OpStrategy> slice_or_select_scatter(const OpCall& call, bool select) {
  const auto& self = call.input(0);
  const auto& src = call.input(1).placements();
  const int64_t dim = wrap_dim(call.int_arg(2), self.ndim());
  // Follows self; a Partial of self passes when src has the same one or is replicated (made
  // Partial locally): the result is where-like in both.
  Placements p = unshard_dims(self.placements(), {dim});
  for (size_t m = 0; m < p.size(); ++m)
    if (p[m].is_partial() && src[m] != p[m] && !src[m].is_replicate()) p[m] = Replicate{};
  return {make_strategy({p, select ? skip_dim(p, dim) : p}, p)};
}

// Gradients of slice_scatter(self, src, dim, start, end, step) and select_scatter(self, src, dim,
// index), as libtorch computes them: src's is grad's slice / row, self's is grad with that slice /
// row zeroed. The zeros are zeros_like of the (DTensor) slice, where libtorch builds plain ones
// (see ops/derivatives.h).
Backward slice_scatter_backward(c10::ArrayRef<c10::IValue> args) {
  const int64_t dim = args[2].toInt(), step = args[5].toInt();
  const auto start = args[3].toOptional<int64_t>(), end = args[4].toOptional<int64_t>();
  return [=](const at::Tensor& grad, const std::vector<bool>& needed) -> std::vector<at::Tensor> {
    at::Tensor src_grad = at::slice(grad, dim, start, end, step);
    at::Tensor self_grad;
    if (needed[0]) self_grad = at::slice_scatter(grad, at::zeros_like(src_grad), dim, start, end, step);
    return {self_grad, src_grad};
  };
}

Backward select_scatter_backward(c10::ArrayRef<c10::IValue> args) {
  const int64_t dim = args[2].toInt(), index = args[3].toInt();
  return [=](const at::Tensor& grad, const std::vector<bool>& needed) -> std::vector<at::Tensor> {
    at::Tensor src_grad = grad.select(dim, index);
    at::Tensor self_grad;
    if (needed[0]) self_grad = at::select_scatter(grad, at::zeros_like(src_grad), dim, index);
    return {self_grad, src_grad};
  };
}

// index_select(self, dim, index): self's gradient is grad index_add-ed into zeros of self's shape,
// as libtorch computes it; the zeros come from grad.new_zeros (a DTensor), where libtorch's
// index_select_backward builds plain ones (see ops/derivatives.h).
Backward index_select_backward(c10::ArrayRef<c10::IValue> args) {
  const std::vector<int64_t> sizes = args[0].toTensor().sizes().vec();
  const int64_t dim = args[1].toInt();
  const SavedTensor index(args[2].toTensor(), "the index of index_select");
  return [=](const at::Tensor& grad, const std::vector<bool>& needed) -> std::vector<at::Tensor> {
    at::Tensor self_grad;
    if (needed[0]) self_grad = grad.new_zeros(sizes).index_add(dim, index.get(), grad);
    return {self_grad, at::Tensor()};
  };
}

// index_put(self, indices, values, accumulate), index_put_ and _index_put_impl_: as
// libtorch computes it, values' gradient is grad at the indices, self's is grad (accumulate) or
// grad with the written positions zeroed by an index_put of zeros, which libtorch builds plain and
// we build with grad.new_zeros (ops/derivatives.h).
Backward index_put_backward(c10::ArrayRef<c10::IValue> args) {
  const bool accumulate = args[3].toBool();
  const std::vector<int64_t> values_sizes = args[2].toTensor().sizes().vec();
  std::vector<SavedTensor> indices;
  for (const auto& i : args[1].toListRef())
    indices.emplace_back(i.toOptional<at::Tensor>().value_or(at::Tensor()), "an index of index_put");
  return [=](const at::Tensor& grad, const std::vector<bool>& needed) -> std::vector<at::Tensor> {
    c10::List<c10::optional<at::Tensor>> list;
    for (const auto& i : indices)
      list.push_back(i.get().defined() ? c10::optional<at::Tensor>(i.get()) : c10::nullopt);
    at::Tensor self_grad, values_grad;
    if (needed[0]) self_grad = accumulate ? grad : grad.index_put(list, grad.new_zeros(values_sizes), false);
    if (needed[1]) values_grad = grad.index(list);
    return {self_grad, values_grad};
  };
}

// take(self, index): flat lookups; the output has the index's shape and layout.
std::vector<OpStrategy> take(const OpCall& call) {
  const auto& self = call.input(0);
  const auto& index = call.input(1);
  Placements self_p, index_p = without_partial(index.placements()), out;
  for (int64_t m = 0; m < call.mesh_ndim(); ++m) {
    const bool pass = index_p[m].is_replicate() && self.placements()[m].is_partial();
    self_p.push_back(pass ? self.placements()[m] : Placement(Replicate{}));
    out.push_back(pass ? self.placements()[m] : index_p[m]);
  }
  OpStrategy s = make_strategy({self_p, index_p}, out);
  s.output_meta = std::vector<TensorMeta>{contiguous_meta(index.shape(), self.dtype())};
  return {s};
}

// put(self, index, source, accumulate) / put_: flat writes anywhere in self, so self, index and
// source are whole; a Partial passes as through the other writes.
std::vector<OpStrategy> put(const OpCall& call, bool inplace) {
  const Write write = call.arg("accumulate").toBool() ? Write::Add : Write::Overwrite;
  std::vector<std::vector<std::vector<Placement>>> options(call.mesh_ndim());
  for (int64_t m = 0; m < call.mesh_ndim(); ++m) {
    options[m].emplace_back(4, Replicate{});
    auto p = partial_on(call, m, 2);
    if (p && partial_passes(*p, write)) options[m].push_back({*p, Replicate{}, *p, *p});
  }
  auto strategies = combine_mesh_dims(options, 3, 1);
  return inplace ? keep_self_placements(call, std::move(strategies)) : strategies;
}

// put(self, index, source, accumulate) and put_: source's gradient is grad taken at the index,
// self's is grad (accumulate) or grad with the written positions zeroed by a put of zeros, which
// libtorch builds plain and we build with grad.new_zeros.
Backward put_backward(c10::ArrayRef<c10::IValue> args) {
  const SavedTensor index(args[1].toTensor(), "the index of put");
  const std::vector<int64_t> source_sizes = args[2].toTensor().sizes().vec();
  const bool accumulate = args[3].toBool();
  return [=](const at::Tensor& grad, const std::vector<bool>& needed) -> std::vector<at::Tensor> {
    at::Tensor self_grad, source_grad;
    if (needed[0]) self_grad = accumulate ? grad : grad.put(index.get(), grad.new_zeros(source_sizes), false);
    if (needed[2]) source_grad = grad.take(index.get()).reshape(source_sizes);
    return {self_grad, at::Tensor(), source_grad};
  };
}

// take(self, index): self's gradient is grad put (accumulating) into zeros of self's shape, as
// libtorch computes it; libtorch's zeros_like(self) would keep self's sharding, which the
// in-place put_ cannot write flat positions into, so the zeros here are grad.new_zeros.
Backward take_backward(c10::ArrayRef<c10::IValue> args) {
  const std::vector<int64_t> sizes = args[0].toTensor().sizes().vec();
  const SavedTensor index(args[1].toTensor(), "the index of take");
  return [=](const at::Tensor& grad, const std::vector<bool>& needed) -> std::vector<at::Tensor> {
    at::Tensor self_grad;
    if (needed[0]) self_grad = grad.new_zeros(sizes).put(index.get(), grad, /*accumulate=*/true);
    return {self_grad, at::Tensor()};
  };
}

std::vector<OpStrategy> data_dependent(const OpCall& call) {
  C10_THROW_ERROR(NotImplementedError,
                  c10::str("dtensor: ", call.name(), " has a data-dependent output shape, which DTensor "
                           "sharding propagation cannot describe (input ", call.input(0), "). Run it "
                           "on full_tensor() (every rank gets the same result) or on to_local(), or "
                           "use a fixed-shape alternative (where, masked_fill)."));
}

}  // namespace

DTENSOR_RULES(indexing) {
  register_rule("aten::slice.Tensor", slice);
  register_rule("aten::slice_backward", slice_backward);
  register_rule("aten::select.int", select);
  register_rule("aten::select_backward", select_backward);
  register_rule("aten::index_select", index_select);
  register_rule("aten::gather", gather);
  auto scatter_rule = [](Write w, bool inplace) {
    return [w, inplace](const OpCall& c) { return scatter(c, w, inplace); };
  };
  register_rule({"aten::scatter.src"}, scatter_rule(Write::Overwrite, false));
  register_rule({"aten::scatter_.src"}, scatter_rule(Write::Overwrite, true));
  register_rule({"aten::scatter.value", "aten::scatter.reduce", "aten::scatter.value_reduce",
                 "aten::scatter_reduce.two"},
                scatter_rule(Write::Other, false));
  register_rule({"aten::scatter_.value", "aten::scatter_.reduce", "aten::scatter_.value_reduce",
                 "aten::scatter_reduce_.two"},
                scatter_rule(Write::Other, true));
  register_rule("aten::scatter_add", scatter_rule(Write::Add, false));
  register_rule("aten::scatter_add_", scatter_rule(Write::Add, true));
  register_rule("aten::index.Tensor", index);
  register_rule("aten::index_put", [](const OpCall& c) { return index_put(c, false); });
  register_rule({"aten::index_put_", "aten::_index_put_impl_"}, [](const OpCall& c) { return index_put(c, true); });
  auto index_write_rule = [](Write w, bool inplace) {
    return [w, inplace](const OpCall& c) { return index_write(c, w, inplace); };
  };
  register_rule("aten::index_add", index_write_rule(Write::Add, false));
  register_rule("aten::index_add_", index_write_rule(Write::Add, true));
  register_rule("aten::index_copy", index_write_rule(Write::Overwrite, false));
  register_rule("aten::index_copy_", index_write_rule(Write::Overwrite, true));
  register_rule({"aten::index_fill.int_Scalar", "aten::index_fill.int_Tensor"},
                index_write_rule(Write::Other, false));
  register_rule({"aten::index_fill_.int_Scalar", "aten::index_fill_.int_Tensor"},
                index_write_rule(Write::Other, true));
  register_rule("aten::slice_scatter", [](const OpCall& c) { return slice_or_select_scatter(c, false); });
  register_rule("aten::select_scatter", [](const OpCall& c) { return slice_or_select_scatter(c, true); });
  register_derivative("aten::index_select", index_select_backward);
  for (const char* name : {"aten::index_put", "aten::index_put_", "aten::_index_put_impl_"})
    register_derivative(name, index_put_backward);
  register_derivative("aten::slice_scatter", slice_scatter_backward);
  register_derivative("aten::select_scatter", select_scatter_backward);
  register_rule("aten::take", take);
  register_derivative("aten::take", take_backward);
  register_rule("aten::put", [](const OpCall& c) { return put(c, false); });
  register_rule("aten::put_", [](const OpCall& c) { return put(c, true); });
  register_derivative("aten::put", put_backward);
  register_derivative("aten::put_", put_backward);
  register_rule({"aten::nonzero", "aten::masked_select"}, data_dependent);
}

}  // namespace dtensor::ops
