// Copies, casts, fills, *_like / new_* factories, item(): ops that follow their input, ignore
// its values, or need it whole.
//
//   clone, detach, alias, lift_fresh, detach_
//                        follow the input, Partial included (identity maps commute with any
//                        reduction)
//   _to_copy (casts)     follow the input; a Partial survives a cast that commutes with its
//                        reduction. max/min: any cast but to bool (rounding and truncation are
//                        non-decreasing, so cast(max_i x_i) = max_i cast(x_i) exactly). sum/avg:
//                        only a floating cast that represents every source value exactly (same
//                        type or widening: half/bf16 -> float -> double, real -> complex); a
//                        narrowing cast rounds each summand, and with summands larger than their
//                        sum (cancellation) the reduced result is off by far more than one
//                        rounding of the whole value, so the Partial is reduced first (like
//                        integer casts, which truncate). Other Partials are reduced first
//   *_like, fill, zero   the values are ignored: the input keeps its layout (no communication)
//                        and the output takes it with Partial replaced by Replicate, every rank
//                        writing the same values
//   fill_, zero_         in place, so self keeps its placements: on a Partial(sum) mesh dim only
//                        coordinate 0 writes the value and the others write 0, so the sum is
//                        the value; avg/max/min Partials hold it everywhere; zero_ keeps any
//                        Partial (0 is every reduction's fixed point)
//   new_* (global size)  Replicate output; the input only donates dtype and device
//   copy_                pointwise (Linearity::Copy): self keeps its placements, src is
//                        broadcast, cast and brought to them (a Partial self gets a Partial src)
//   _local_scalar_dense  item(): the value must be whole, so Partials are reduced and shards
//   equal                gathered first (equal returns the same bool on every rank)
//   is_same_size         answered from the global shapes
#include <ATen/ATen.h>

#include "ops/common.h"
#include "ops/pointwise.h"

namespace dtensor::ops {
namespace {

using comm::ReduceOp;

// Every input but the first keeps its placements (or is whole when `whole_rest`).
OpStrategy with_output(const OpCall& call, Placements in, Placements out, bool whole_rest = false) {
  OpStrategy s;
  s.inputs.push_back(std::move(in));
  for (size_t k = 1; k < call.num_inputs(); ++k)
    s.inputs.push_back(whole_rest ? replicate(call.mesh_ndim()) : call.input(k).placements());
  s.outputs.push_back(std::move(out));
  return s;
}

std::vector<OpStrategy> identity(const OpCall& call) {
  const auto& p = call.input(0).placements();
  return {with_output(call, p, p)};
}

// *_like, fill, zero: layout of the input, values of its own.
std::vector<OpStrategy> values_ignored(const OpCall& call) {
  const auto& p = call.input(0).placements();
  return {with_output(call, p, without_partial(p), /*whole_rest=*/true)};
}

std::vector<OpStrategy> replicated_output(const OpCall& call) {
  OpStrategy s;
  for (size_t k = 0; k < call.num_inputs(); ++k) s.inputs.push_back(call.input(k).placements());
  s.outputs.push_back(replicate(call.mesh_ndim()));
  return {s};
}

// new_empty_strided has no meta kernel: its result is exactly the requested layout.
std::vector<OpStrategy> new_empty_strided(const OpCall& call) {
  auto strategies = replicated_output(call);
  const auto dtype = call.arg("dtype").toOptional<at::ScalarType>();
  strategies[0].output_meta = std::vector<TensorMeta>{TensorMeta{
      call.arg("size").toIntVector(), call.arg("stride").toIntVector(), dtype.value_or(call.input(0).dtype())}};
  return strategies;
}

bool is_floating_or_complex(at::ScalarType t) { return at::isFloatingType(t) || at::isComplexType(t); }

// Whether casting every summand from `from` to `to` and reducing there equals casting the reduced
// value (see the header comment).
bool cast_keeps(ReduceOp r, at::ScalarType from, at::ScalarType to) {
  if (r == ReduceOp::Sum || r == ReduceOp::Avg)
    return is_floating_or_complex(from) && is_floating_or_complex(to) && c10::promoteTypes(from, to) == to;
  if (r == ReduceOp::Max || r == ReduceOp::Min) return to != at::kBool;
  return false;
}

std::vector<OpStrategy> to_copy(const OpCall& call) {
  const auto& in = call.input(0);
  auto device = call.arg("device");
  TORCH_CHECK_NOT_IMPLEMENTED(device.isNone() || device.toDevice().type() == in.mesh().device().type(),
                              "dtensor: moving a DTensor to ", device.toDevice(),
                              " is not supported; its mesh is on ", in.mesh().device_type(),
                              ". Build the tensor on a mesh of the target device type.");
  // Metadata from the op itself on a meta tensor, with the device argument cleared.
  auto meta = at::_to_copy(
      at::empty_strided(in.shape(), in.meta().stride, at::TensorOptions().dtype(in.dtype()).device(at::kMeta)),
      call.arg("dtype").toOptional<at::ScalarType>(), c10::nullopt, c10::nullopt, c10::nullopt,
      call.arg("non_blocking").toBool(), call.arg("memory_format").toOptional<at::MemoryFormat>());
  Placements p = in.placements();
  for (auto& x : p)
    if (x.is_partial() && !cast_keeps(x.reduce_op(), in.dtype(), meta.scalar_type())) x = Replicate{};
  auto s = with_output(call, p, p);
  s.output_meta = std::vector<TensorMeta>{TensorMeta{meta.sizes().vec(), meta.strides().vec(), meta.scalar_type()}};
  return {s};
}

// fill_.Scalar / fill_.Tensor: see the header comment.
std::vector<OpStrategy> fill_inplace(const OpCall& call) {
  const auto& self = call.input(0);
  const auto coord = self.mesh().get_coordinate();
  bool writes_zero = false;
  for (size_t m = 0; m < self.placements().size(); ++m) {
    const auto& p = self.placements()[m];
    if (!p.is_partial()) continue;
    TORCH_CHECK_NOT_IMPLEMENTED(!p.is_partial(ReduceOp::Product), "dtensor: ", call.name(),
                                " on a Partial(product) DTensor is not supported; redistribute it to "
                                "Replicate first");
    writes_zero = writes_zero || (p.is_partial(ReduceOp::Sum) && coord && (*coord)[m] != 0);
  }
  auto s = with_output(call, self.placements(), self.placements(), /*whole_rest=*/true);
  if (writes_zero) {
    s.local = [](const c10::OperatorHandle& op, torch::jit::Stack& stack) {
      op.callBoxed(&stack);
      stack.back().toTensor().zero_();
    };
  }
  return {s};
}

std::vector<OpStrategy> needs_replicated(const OpCall& call) {
  OpStrategy s;
  for (size_t k = 0; k < call.num_inputs(); ++k) s.inputs.push_back(replicate(call.mesh_ndim()));
  return {s};
}

// A metadata question answered from the global shapes, without touching local data.
std::vector<OpStrategy> same_global_size(const OpCall& call) {
  const bool same = call.input(0).shape() == call.input(1).shape();
  OpStrategy s;
  for (size_t k = 0; k < call.num_inputs(); ++k) s.inputs.push_back(call.input(k).placements());
  s.local = [same](const c10::OperatorHandle&, torch::jit::Stack& stack) {
    torch::jit::drop(stack, 2);
    stack.emplace_back(same);
  };
  return {s};
}

}  // namespace

DTENSOR_RULES(tensor_ops) {
  register_rule({"aten::clone", "aten::detach", "aten::alias", "aten::lift_fresh", "aten::detach_"}, identity);
  register_rule("aten::_to_copy", to_copy);
  // Fill values are not keys: a changing value must not grow the sharding cache.
  register_rule({"aten::zeros_like", "aten::ones_like", "aten::empty_like"}, values_ignored);
  register_rule("aten::full_like", values_ignored, keys({2, 3, 4, 5, 6}));
  register_rule({"aten::fill.Scalar", "aten::fill.Tensor", "aten::zero"}, values_ignored, keys({}));
  register_rule({"aten::fill_.Scalar", "aten::fill_.Tensor"}, fill_inplace, keys({}));
  register_rule("aten::zero_", identity);
  register_rule({"aten::new_zeros", "aten::new_ones", "aten::new_empty"}, replicated_output);
  register_rule("aten::new_full", replicated_output, keys({1, 3, 4, 5, 6}));
  register_rule("aten::new_empty_strided", new_empty_strided);
  register_pointwise({"aten::copy_"}, Linearity::Copy);
  register_rule({"aten::_local_scalar_dense", "aten::equal"}, needs_replicated);
  register_rule("aten::is_same_size", same_global_size);
}

}  // namespace dtensor::ops
