// Sharding propagation: rule -> cheapest strategy -> output metadata -> Decision.
#include <ATen/core/ivalue.h>
#include <ATen/core/stack.h>
#include <c10/core/impl/LocalDispatchKeySet.h>

#include "dispatch/decision.h"
#include "dispatch/registry.h"
#include "redistribute/redistribute.h"
#include "tensor/dtensor_impl.h"

namespace dtensor::detail {
namespace {

std::string describe_inputs(const c10::FunctionSchema& schema, const CallInputs& inputs) {
  std::vector<std::string> parts;
  for (size_t k = 0; k < inputs.specs.size(); ++k) {
    const auto& s = *inputs.spec(k);
    parts.push_back(c10::str(schema.arguments()[inputs.args[k]].name(), ": ", to_string(s.placements()),
                             " [", c10::Join(", ", s.shape()), "] ", s.dtype()));
  }
  return c10::Join(", ", parts);
}

at::Tensor meta_like(const DTensorSpec& s) {
  return at::empty_strided(s.shape(), s.meta().stride, at::TensorOptions().dtype(s.dtype()).device(at::kMeta));
}

void flatten_outputs(const c10::IValue& v, std::vector<std::optional<TensorMeta>>& out) {
  if (v.isTensor()) {
    const auto& t = v.toTensor();
    if (!t.defined()) {
      out.emplace_back();
    } else {
      out.push_back(TensorMeta{t.sizes().vec(), t.strides().vec(), t.scalar_type()});
    }
  } else if (v.isTensorList()) {
    for (const at::Tensor& t : v.toTensorList()) out.push_back(TensorMeta{t.sizes().vec(), t.strides().vec(), t.scalar_type()});
  } else if (v.isNone()) {
    out.emplace_back();  // an optional tensor return left empty
  }
}

// Global output metadata: the op on meta tensors of the global input shapes.
std::vector<std::optional<TensorMeta>> meta_outputs(const c10::OperatorHandle& op,
                                                    c10::ArrayRef<c10::IValue> args,
                                                    const CallInputs& inputs) {
  torch::jit::Stack stack;
  size_t k = 0;
  for (const auto& a : args) {
    if (a.isTensor()) {
      if (!a.toTensor().defined()) {
        stack.push_back(a);
        continue;
      }
      auto meta = meta_like(*inputs.spec(k++));
      // Wrapped scalars rank below dimensioned tensors in type promotion.
      if (a.toTensor().unsafeGetTensorImpl()->is_wrapped_number()) meta.unsafeGetTensorImpl()->set_wrapped_number(true);
      stack.emplace_back(std::move(meta));
    } else if (a.isTensorList()) {
      c10::List<at::Tensor> list;
      for (size_t i = 0; i < a.toTensorList().size(); ++i) list.push_back(meta_like(*inputs.spec(k++)));
      stack.emplace_back(std::move(list));
    } else if (a.isList() && std::any_of(a.toListRef().begin(), a.toListRef().end(),
                                         [](const c10::IValue& e) { return e.isTensor(); })) {
      // Tensor?[] (index's indices) may start with None.
      c10::List<c10::optional<at::Tensor>> list;
      for (const auto& e : a.toListRef()) {
        if (e.isTensor() && e.toTensor().defined()) list.push_back(meta_like(*inputs.spec(k++)));
        else list.push_back(c10::nullopt);
      }
      stack.emplace_back(std::move(list));
    } else {
      stack.push_back(a);
    }
  }
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    op.callBoxed(&stack);
  }
  std::vector<std::optional<TensorMeta>> out;
  for (const auto& v : stack) flatten_outputs(v, out);
  return out;
}

size_t count_tensor_returns(const c10::FunctionSchema& schema) {
  size_t n = 0;
  for (const auto& r : schema.returns()) {
    auto kind = r.type()->kind();
    if (kind == c10::TypeKind::TensorType || kind == c10::TypeKind::ListType ||
        kind == c10::TypeKind::OptionalType)
      ++n;
  }
  return n;
}

std::vector<int> write_aliases(const c10::FunctionSchema& schema) {
  std::vector<int> result(schema.returns().size(), -1);
  for (size_t r = 0; r < schema.returns().size(); ++r) {
    const auto* ret = schema.returns()[r].alias_info();
    if (ret == nullptr || !ret->isWrite()) continue;
    for (size_t i = 0; i < schema.arguments().size(); ++i) {
      const auto* arg = schema.arguments()[i].alias_info();
      if (arg != nullptr && arg->isWrite() && arg->beforeSets() == ret->beforeSets()) {
        result[r] = static_cast<int>(i);
        break;
      }
    }
  }
  return result;
}

}  // namespace

std::shared_ptr<const Decision> propagate(const c10::OperatorHandle& op,
                                          c10::ArrayRef<c10::IValue> args,
                                          const CallInputs& inputs) {
  const auto& schema = op.schema();
  const RuleEntry* entry = find_rule(schema.operator_name());
  TORCH_CHECK_NOT_IMPLEMENTED(entry != nullptr, "dtensor: no sharding rule for ", schema.name(),
                              schema.overload_name().empty() ? "" : ".", schema.overload_name(),
                              " (inputs ", describe_inputs(schema, inputs),
                              "). Run it on local tensors: .to_local() or .full_tensor() before, "
                              "DTensor::from_local after; or register a rule with "
                              "dtensor::ops::register_rule.");
  std::vector<SpecPtr> specs;
  for (const SpecPtr* s : inputs.specs) specs.push_back(*s);
  std::vector<int> arg_of(inputs.args.begin(), inputs.args.end());
  ops::OpCall call(op, args, specs, arg_of);
  auto strategies = entry->rule(call);
  TORCH_CHECK(!strategies.empty(), "dtensor: the sharding rule of ", schema.name(), ".",
              schema.overload_name(), " found no strategy for inputs ",
              describe_inputs(schema, inputs));

  // Cheapest redistribution wins; ties keep the rule's order of preference.
  size_t best = 0;
  double best_cost = std::numeric_limits<double>::infinity();
  // A strategy is reachable when every per-mesh-dim transition exists (Shard -> Partial does not).
  for (size_t s = 0; s < strategies.size(); ++s) {
    const auto& st = strategies[s];
    TORCH_INTERNAL_ASSERT(st.inputs.size() == specs.size(), "rule of ", schema.name(), " gave ",
                          st.inputs.size(), " input placements for ", specs.size(), " inputs");
    double cost = 0;
    for (size_t k = 0; k < specs.size(); ++k) cost += redistribute_cost(*specs[k], st.inputs[k]);
    if (cost < best_cost) {
      best_cost = cost;
      best = s;
    }
  }
  TORCH_CHECK(best_cost < std::numeric_limits<double>::infinity(), "dtensor: no strategy of ",
              schema.name(), ".", schema.overload_name(), " is reachable from inputs ",
              describe_inputs(schema, inputs), " (Shard cannot become Partial)");
  auto& chosen = strategies[best];

  auto decision = std::make_shared<Decision>();
  decision->write_alias_arg = write_aliases(schema);
  for (size_t k = 0; k < specs.size(); ++k) {
    auto target = specs[k]->with_placements(chosen.inputs[k]);
    for (int a : decision->write_alias_arg) {
      if (a != inputs.args[k]) continue;
      TORCH_CHECK(target == specs[k], "dtensor: ", schema.name(), " writes its argument '",
                  schema.arguments()[a].name(), "' in place, which would need it redistributed from ",
                  to_string(specs[k]->placements()), " to ", to_string(chosen.inputs[k]),
                  ". In-place ops keep their operand's placements: use the out-of-place op or "
                  "redistribute the operand first.");
    }
    decision->input_targets.push_back(std::move(target));
  }
  for (int a : decision->write_alias_arg) {
    if (a < 0) continue;
    const auto& t = args[a].toTensor();
    TORCH_CHECK(dtensor_impl(t) != nullptr, "dtensor: ", schema.name(), " writes into the plain tensor '",
                schema.arguments()[a].name(), "' with DTensor operands; its result would have to "
                "be a DTensor. Make the written tensor a DTensor (DTensor::from_local).");
  }

  std::vector<std::optional<TensorMeta>> metas;
  if (chosen.output_meta) {
    metas.assign(chosen.output_meta->begin(), chosen.output_meta->end());
  } else if (count_tensor_returns(schema) > 0) {
    try {
      metas = meta_outputs(op, args, inputs);
    } catch (const std::exception& e) {
      TORCH_CHECK(false, "dtensor: cannot infer the output shapes of ", schema.name(), ".",
                  schema.overload_name(), " on meta tensors (", e.what(),
                  "); its sharding rule must give OpStrategy::output_meta");
    }
  }
  const bool list_return = chosen.outputs.size() == 1 && metas.size() != 1;
  TORCH_INTERNAL_ASSERT(list_return || chosen.outputs.size() == metas.size(), "rule of ",
                        schema.name(), ".", schema.overload_name(), " gave ", chosen.outputs.size(),
                        " output placements for ", metas.size(), " outputs");
  const auto& mesh = specs.front()->mesh();
  for (size_t j = 0; j < metas.size(); ++j) {
    const auto& placements = chosen.outputs[list_return ? 0 : j];
    if (!metas[j] || !placements) {
      decision->outputs.push_back(nullptr);
      decision->local_shapes.emplace_back();
      continue;
    }
    auto spec = DTensorSpec::make(mesh, *placements, *metas[j]);
    decision->local_shapes.push_back(spec->local_shape());
    decision->outputs.push_back(std::move(spec));
  }
  decision->local = std::move(chosen.local);
  decision->on_mesh = mesh.contains_this_rank();
  return decision;
}

}  // namespace dtensor::detail
