// The dtensor kernel: scan inputs, look up (or propagate) the sharding decision, redistribute,
// run the op on local shards below autograd, wrap the outputs.
//
// Every op on a DTensor pays this on top of the local op, so the cache-hit path avoids what is
// easy to avoid: no heap allocation of its own (small inline vectors; the mesh membership is in
// the Decision), no reference counting of specs (CallInputs points at the DTensors' own), one
// thread-local lookup (CacheSession) and no lock (see cache.cpp). What remains is the boxed call
// itself, the second dispatch of the local op and the DTensorImpl of each output
// (bench/README.md, "Dispatch overhead").
#include "dispatch/kernel.h"

#include <ATen/core/ivalue.h>
#include <c10/core/impl/LocalDispatchKeySet.h>

#include <dtensor/tensor.h>

#include "dispatch/decision.h"
#include "dispatch/handlers.h"
#include "redistribute/redistribute.h"
#include "tensor/dtensor_impl.h"

namespace dtensor::detail {
namespace {

struct PlainInput {
  size_t input;  // index into CallInputs
  const at::Tensor* tensor;
};

void add_input(const at::Tensor& t, int arg, CallInputs& inputs,
               c10::SmallVector<PlainInput, 2>& plain) {
  if (!t.defined()) return;
  if (auto* impl = dtensor_impl(t)) {
    inputs.specs.push_back(&impl->spec());
  } else {
    plain.push_back({inputs.specs.size(), &t});
    inputs.specs.push_back(nullptr);
  }
  inputs.args.push_back(arg);
}

void check_plain_allowed(const c10::OperatorHandle& op, int arg, const at::Tensor& t) {
  if (t.numel() == 1 || ImplicitReplicationGuard::active()) return;
  const auto& schema = op.schema();
  TORCH_CHECK_TYPE(false, "dtensor: ", schema.name(), ".", schema.overload_name(),
                   " got a plain tensor as argument '", schema.arguments()[arg].name(),
                   "' (shape ", t.sizes(), ") mixed with DTensor arguments. Convert it with "
                   "DTensor::from_local or distribute_tensor; or, if it is a module input, call "
                   "the module through a hookable holder (dtensor::nn::ModuleHolder) so its "
                   "parallel style converts it; or keep a dtensor::ImplicitReplicationGuard alive "
                   "to treat plain tensors as replicated.");
}

// Collects the specs of every defined tensor argument; plain tensors become Replicate on the
// DTensors' mesh when allowed.
void scan_inputs(const c10::OperatorHandle& op, c10::ArrayRef<c10::IValue> args,
                 CallInputs& inputs) {
  c10::SmallVector<PlainInput, 2> plain;
  for (size_t i = 0; i < args.size(); ++i) {
    const auto& a = args[i];
    const int arg = static_cast<int>(i);
    if (a.isTensor()) {
      add_input(a.toTensor(), arg, inputs, plain);
    } else if (a.isList()) {  // isList first: isTensorList is an out-of-line call
      if (a.isTensorList()) {
        for (const at::Tensor& t : a.toTensorList()) add_input(t, arg, inputs, plain);
      } else {
        for (const auto& e : a.toListRef())
          if (e.isTensor()) add_input(e.toTensor(), arg, inputs, plain);
      }
    }
  }
  const DTensorSpec* first = nullptr;
  for (const SpecPtr* s : inputs.specs)
    if (s != nullptr) {
      first = s->get();
      break;
    }
  TORCH_INTERNAL_ASSERT(first != nullptr, "dtensor kernel called without DTensor arguments");
  const DeviceMesh& mesh = first->mesh();
  if (C10_UNLIKELY(!plain.empty())) {
    inputs.implicit.reserve(plain.size());  // no reallocation: specs point into it
    for (const auto& p : plain) {
      check_plain_allowed(op, inputs.args[p.input], *p.tensor);
      const auto& t = *p.tensor;
      inputs.implicit.push_back(DTensorSpec::make(
          mesh, Placements(mesh.ndim(), Replicate{}),
          TensorMeta{t.sizes().vec(), t.strides().vec(), t.scalar_type()}));
      inputs.specs[p.input] = &inputs.implicit.back();
    }
  }
  for (const SpecPtr* s : inputs.specs) {
    const DeviceMesh& other = (*s)->mesh();
    if (C10_LIKELY(other.id() == mesh.id()) || other == mesh) continue;
    TORCH_CHECK_NOT_IMPLEMENTED(false, "dtensor: ", op.schema().name(),
                                " got DTensors on different meshes (", mesh, " and ", other,
                                "); cross-mesh ops are not supported: redistribute onto one mesh");
  }
}

// Redistributions done for the current call: a tensor passed twice with the same target
// (addcmul_(v, g, g)) moves once.
struct Moved {
  const c10::TensorImpl* tensor;
  const DTensorSpec* target;
  at::Tensor local;
};
using MovedInputs = c10::SmallVector<Moved, 2>;

at::Tensor local_input(const at::Tensor& t, size_t k, const CallInputs& inputs,
                       const Decision& d, MovedInputs& moved) {
  auto* impl = dtensor_impl(t);
  const at::Tensor& local = impl ? impl->local() : t;
  if (d.input_targets[k] == inputs.spec(k)) return local;
  for (const auto& m : moved)
    if (m.tensor == t.unsafeGetTensorImpl() && m.target == d.input_targets[k].get()) return m.local;
  auto result = redistribute_local(local, *inputs.spec(k), *d.input_targets[k]);
  moved.push_back({t.unsafeGetTensorImpl(), d.input_targets[k].get(), result});
  return result;
}

// Replaces every tensor argument on the stack by its (redistributed) local shard.
void localize_args(torch::jit::Stack& stack, size_t base, size_t num_args,
                   const CallInputs& inputs, const Decision& d) {
  size_t k = 0;
  MovedInputs moved;
  for (size_t i = 0; i < num_args; ++i) {
    auto& a = stack[base + i];
    if (a.isTensor()) {
      if (a.toTensor().defined()) a = local_input(a.toTensor(), k++, inputs, d, moved);
    } else if (!a.isList()) {
      continue;
    } else if (a.isTensorList()) {
      c10::List<at::Tensor> locals;
      for (const at::Tensor& t : a.toTensorList()) locals.push_back(local_input(t, k++, inputs, d, moved));
      a = std::move(locals);
    } else {
      const auto& list = a.toListRef();
      if (list.empty() || !std::any_of(list.begin(), list.end(), [](const c10::IValue& e) { return e.isTensor(); }))
        continue;
      c10::List<c10::optional<at::Tensor>> locals;
      for (const auto& e : list) {
        if (e.isTensor() && e.toTensor().defined()) locals.push_back(local_input(e.toTensor(), k++, inputs, d, moved));
        else locals.push_back(c10::nullopt);
      }
      a = std::move(locals);
    }
  }
}

void check_local_shape(const c10::OperatorHandle& op, const at::Tensor& local, const Decision& d,
                       size_t j) {
  TORCH_CHECK(local.sizes() == c10::IntArrayRef(d.local_shapes[j]), "dtensor internal error: ",
              op.schema().name(), ".", op.schema().overload_name(), " produced a local output of shape ",
              local.sizes(), " where its sharding rule promised ", *d.outputs[j], " (local shape [",
              c10::Join(", ", d.local_shapes[j]), "]). Please report this with the op and placements.");
}

at::Tensor wrap_output(const c10::OperatorHandle& op, const at::Tensor& local, const Decision& d,
                       size_t j) {
  if (!local.defined() || !d.outputs[j]) return local;
  check_local_shape(op, local, d, j);
  return make_dtensor(local, d.outputs[j]);
}

// Rank outside the mesh: no computation, empty shards of the promised layouts.
void off_mesh_outputs(const c10::OperatorHandle& op, torch::jit::Stack& stack, size_t base,
                      const Decision& d) {
  const auto& schema = op.schema();
  std::vector<c10::IValue> originals(stack.begin() + base, stack.end());
  torch::jit::drop(stack, originals.size());
  size_t j = 0;
  for (size_t r = 0; r < schema.returns().size(); ++r) {
    const int alias = d.write_alias_arg[r];
    if (alias >= 0) {
      stack.push_back(originals[alias]);
      ++j;
      continue;
    }
    auto kind = schema.returns()[r].type()->kind();
    auto empty = [&](size_t k) {
      return d.outputs[k] ? make_dtensor(at::empty({0}, at::TensorOptions().dtype(d.outputs[k]->dtype())),
                                         d.outputs[k])
                          : at::Tensor();
    };
    TORCH_CHECK(kind == c10::TypeKind::TensorType || kind == c10::TypeKind::ListType,
                "dtensor: ", schema.name(), " returns a value, which a rank outside the mesh "
                "cannot compute");
    if (kind == c10::TypeKind::TensorType) {
      stack.emplace_back(empty(j++));
    } else {
      c10::List<at::Tensor> list;
      while (j < d.outputs.size()) list.push_back(empty(j++));
      stack.emplace_back(std::move(list));
    }
  }
}

}  // namespace

void dtensor_kernel(const c10::OperatorHandle& op, c10::DispatchKeySet, torch::jit::Stack* stack) {
  if (C10_UNLIKELY(installed_handlers.load(std::memory_order_relaxed) > 0)) {
    if (const OpHandler* handler = find_op_handler(op)) {
      (*handler)(op, stack);
      return;
    }
  }
  const auto& schema = op.schema();
  const size_t num_args = schema.arguments().size();
  const size_t base = stack->size() - num_args;
  c10::ArrayRef<c10::IValue> args(stack->data() + base, num_args);

  CacheSession cache;
  CallInputs inputs;
  scan_inputs(op, args, inputs);
  CacheKey key;
  make_cache_key(op, cache.rule(op), args, inputs, key);
  const Decision* decision = cache.lookup(key);
  std::shared_ptr<const Decision> propagated;  // a miss: this call owns the new decision
  if (decision == nullptr) {
    propagated = propagate(op, args, inputs);
    cache.insert(key, propagated);
    decision = propagated.get();
  }
  const Decision& d = *decision;
  if (!d.on_mesh) {
    off_mesh_outputs(op, *stack, base, d);
    return;
  }

  // Arguments written in place are returned as the original DTensors.
  c10::SmallVector<c10::IValue, 2> written;
  for (int a : d.write_alias_arg)
    if (a >= 0) written.push_back(args[a]);

  localize_args(*stack, base, num_args, inputs, d);
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    if (d.local) {
      d.local(op, *stack);
    } else {
      op.callBoxed(stack);
    }
  }

  const size_t num_returns = schema.returns().size();
  const size_t ret_base = stack->size() - num_returns;
  size_t j = 0, w = 0;
  for (size_t r = 0; r < num_returns; ++r) {
    auto& v = (*stack)[ret_base + r];
    if (d.write_alias_arg[r] >= 0) {
      const c10::IValue& original = written[w++];
      auto* impl = dtensor_impl(original.toTensor());
      const at::Tensor& local = v.toTensor();
      check_local_shape(op, local, d, j);
      // out= may resize; an in-place op wrote the shard it was given.
      if (impl->spec() != d.outputs[j] || !local.is_same(impl->local())) impl->replace(local, d.outputs[j]);
      v = original;
      ++j;
    } else if (v.isTensor()) {
      v = wrap_output(op, v.toTensor(), d, j++);
    } else if (v.isTensorList()) {
      c10::List<at::Tensor> wrapped;
      for (const at::Tensor& t : v.toTensorList()) wrapped.push_back(wrap_output(op, t, d, j++));
      v = std::move(wrapped);
    } else if (v.isNone() && schema.returns()[r].type()->kind() == c10::TypeKind::OptionalType) {
      ++j;
    }
  }
}

}  // namespace dtensor::detail
