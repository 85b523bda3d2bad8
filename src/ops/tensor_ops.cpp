// Copies, casts, *_like factories, item(): ops that follow their input or need it whole.
//
//   clone, detach, alias, _to_copy   follow the input, Partial included (all linear)
//   *_like                           follow the input, Partial replaced by Replicate
//   new_* (global size argument)     Replicate output; the input is only a dtype/device donor
//   copy_                            `self` keeps its placements; src is brought to them
//   _local_scalar_dense (item)       the value must be replicated: Partial is reduced and
//                                    shards gathered first
#include "ops/common.h"
#include "ops/pointwise.h"

namespace dtensor::ops {
namespace {

std::vector<OpStrategy> follow_input(const OpCall& call, bool keep_partial) {
  OpStrategy s;
  Placements p = call.input(0).placements();
  if (!keep_partial) p = without_partial(p);
  s.inputs.push_back(p);
  for (size_t k = 1; k < call.num_inputs(); ++k) s.inputs.push_back(call.input(k).placements());
  s.outputs.push_back(p);
  return {s};
}

std::vector<OpStrategy> replicated_output(const OpCall& call) {
  OpStrategy s;
  for (size_t k = 0; k < call.num_inputs(); ++k) s.inputs.push_back(call.input(k).placements());
  s.outputs.push_back(replicate(call.mesh_ndim()));
  return {s};
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
  auto strategies = follow_input(call, /*keep_partial=*/true);
  strategies[0].output_meta = std::vector<TensorMeta>{
      TensorMeta{meta.sizes().vec(), meta.strides().vec(), meta.scalar_type()}};
  return strategies;
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
  register_rule({"aten::clone", "aten::detach", "aten::alias", "aten::lift_fresh", "aten::detach_"},
                [](const OpCall& c) { return follow_input(c, true); });
  register_rule({"aten::zeros_like", "aten::ones_like", "aten::empty_like", "aten::full_like"},
                [](const OpCall& c) { return follow_input(c, false); });
  register_rule({"aten::new_zeros", "aten::new_ones", "aten::new_empty", "aten::new_full",
                 "aten::new_empty_strided"},
                replicated_output);
  register_rule("aten::_to_copy", to_copy);
  register_pointwise({"aten::copy_"}, Linearity::Additive);
  register_rule({"aten::_local_scalar_dense", "aten::equal"}, needs_replicated);
  register_rule("aten::is_same_size", same_global_size);
}

}  // namespace dtensor::ops
