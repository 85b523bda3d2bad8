// Ops that move, pad, repeat, mask or order elements within dims: constant_pad_nd, repeat, roll,
// flip, triu/tril, sort/topk.
//
// A dim these ops rearrange must be whole on every rank (its rows move across shard borders);
// the other dims keep their shards, and the op runs on the local shard with the same arguments.
//   constant_pad_nd   padded (or cropped) dims whole. Partial passes when the pad value reduces
//                     to itself: 0 for every reduce op, any value for avg/max/min.
//   repeat            dims repeated more than once whole; new leading dims shift the shards.
//   roll / flip       rolled / flipped dims whole (roll without dims: every dim).
//   sort / topk       the sorted dim whole; values and indices share the layout; Partial
//                     reduced first (order is not linear).
// Partial passes through repeat, roll and flip (they permute or copy elements).
//
// triu / tril keep every shard: element (i, j) survives when j - i >= k (triu) or <= k (tril),
// and a rank whose block starts at row r0, column c0 compares its local positions against
// k + r0 - c0. So the local op is triu/tril with that rank-dependent diagonal, with no
// communication (a causal mask over a sharded sequence stays sharded). Partial passes: masked
// elements become 0, which every reduce op maps to 0.
#include "ops/common.h"

namespace dtensor::ops {
namespace {

OpStrategy follow(Placements p, size_t num_outputs = 1) {
  OpStrategy s;
  s.inputs.push_back(p);
  s.outputs.assign(num_outputs, p);
  return s;
}

std::vector<OpStrategy> constant_pad_nd(const OpCall& call) {
  const auto& in = call.input(0);
  const auto pad = call.int_list_arg(1);
  TORCH_CHECK(pad.size() % 2 == 0 && static_cast<int64_t>(pad.size()) / 2 <= in.ndim(),
              "constant_pad_nd: padding length must be divisible by 2 and at most twice the number of "
              "dims (got ", pad.size(), " for a ", in.ndim(), "-dim input)");
  std::vector<int64_t> padded;
  for (size_t i = 0; i < pad.size() / 2; ++i)
    if (pad[2 * i] != 0 || pad[2 * i + 1] != 0) padded.push_back(in.ndim() - 1 - static_cast<int64_t>(i));
  Placements p = unshard_dims(in.placements(), padded);
  const bool zero = call.arg("value").toScalar().equal(0);
  for (auto& x : p) {
    const bool keeps_value = x.is_partial(comm::ReduceOp::Avg) || x.is_partial(comm::ReduceOp::Max) ||
                             x.is_partial(comm::ReduceOp::Min);
    if (x.is_partial() && !zero && !keeps_value) x = Replicate{};
  }
  OpStrategy s = follow(p);
  // ATen rejects every listed dim whose padded size is not positive, zero pads included, so an
  // empty local piece of a sharded listed dim is answered without it (the result is empty too).
  auto out_shape = in.shape();
  for (size_t i = 0; i < pad.size() / 2; ++i) out_shape[in.ndim() - 1 - i] += pad[2 * i] + pad[2 * i + 1];
  s.local = [local_out = make_spec(in.mesh(), p, out_shape, in.dtype())->local_shape()](
                const c10::OperatorHandle& op, torch::jit::Stack& stack) {
    const at::Tensor self = stack[stack.size() - 3].toTensor();
    if (self.numel() != 0) return op.callBoxed(&stack);
    torch::jit::drop(stack, 3);
    stack.emplace_back(at::empty(local_out, self.options()));
  };
  return {s};
}

std::vector<OpStrategy> repeat(const OpCall& call) {
  const auto& in = call.input(0);
  const auto repeats = call.int_list_arg(1);
  const int64_t lead = static_cast<int64_t>(repeats.size()) - in.ndim();
  TORCH_CHECK(lead >= 0, "Number of dimensions of repeat dims can not be smaller than number of "
              "dimensions of tensor");
  std::vector<int64_t> repeated;
  for (int64_t d = 0; d < in.ndim(); ++d)
    if (repeats[d + lead] != 1) repeated.push_back(d);
  const Placements p = unshard_dims(in.placements(), repeated);
  Placements out = p;
  for (auto& x : out)
    if (x.is_shard()) x = Shard(x.shard_dim() + lead);
  return {make_strategy({p}, out)};
}

// The op has no meta kernel in libtorch 1.13; its output is laid out like empty_like(self).
std::vector<TensorMeta> like_input_meta(const DTensorSpec& in) {
  auto meta = at::empty_like(at::empty_strided(in.shape(), in.meta().stride,
                                               at::TensorOptions().dtype(in.dtype()).device(at::kMeta)));
  return {TensorMeta{meta.sizes().vec(), meta.strides().vec(), in.dtype()}};
}

std::vector<OpStrategy> whole_dims(const OpCall& call, std::vector<int64_t> dims) {
  const auto& in = call.input(0);
  for (auto& d : dims) d = wrap_dim(d, in.ndim());
  OpStrategy s = follow(unshard_dims(in.placements(), dims));
  s.output_meta = like_input_meta(in);
  return {s};
}

std::vector<OpStrategy> roll(const OpCall& call) {
  auto dims = call.int_list_arg(2);
  if (dims.empty())  // rolls the flattened tensor
    for (int64_t d = 0; d < call.input(0).ndim(); ++d) dims.push_back(d);
  return whole_dims(call, dims);
}

std::vector<OpStrategy> flip(const OpCall& call) { return whole_dims(call, call.int_list_arg(1)); }

std::vector<OpStrategy> triangle(const OpCall& call) {
  const auto& in = call.input(0);
  TORCH_CHECK(in.ndim() >= 2, call.name(), ": input tensor must have at least 2 dimensions");
  const auto offset = in.local_offset();
  const int64_t row = offset[in.ndim() - 2], col = offset[in.ndim() - 1];
  OpStrategy s = follow(in.placements());
  s.local = with_args({{1, call.int_arg(1) + row - col}});
  return {s};
}

// sort(self, dim, descending), sort.stable(self, *, stable, dim, descending),
// topk(self, k, dim, largest, sorted): values and indices.
std::vector<OpStrategy> sort_like(const OpCall& call) {
  const auto& in = call.input(0);
  const int64_t dim = wrap_dim(call.arg("dim").toInt(), in.ndim());
  return {follow(unshard_dims(without_partial(in.placements()), {dim}), 2)};
}

}  // namespace

DTENSOR_RULES(shape_ops) {
  register_rule("aten::constant_pad_nd", constant_pad_nd);
  register_rule("aten::repeat", repeat);
  register_rule("aten::roll", roll);
  register_rule("aten::flip", flip);
  register_rule({"aten::triu", "aten::tril", "aten::triu_", "aten::tril_"}, triangle);
  register_rule({"aten::sort", "aten::sort.stable", "aten::topk"}, sort_like);
}

}  // namespace dtensor::ops
