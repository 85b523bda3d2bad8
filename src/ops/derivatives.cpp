#include "ops/derivatives.h"

#include <memory>

#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/csrc/autograd/VariableTypeUtils.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/utils.h>

namespace dtensor::ops {
namespace {

using torch::autograd::variable_list;

class DerivativeNode final : public torch::autograd::Node {
 public:
  DerivativeNode(std::string name, Backward backward) : name_(std::move(name)), backward_(std::move(backward)) {}
  std::string name() const override { return name_; }

  variable_list apply(variable_list&& grads) override {
    std::vector<bool> needed(num_outputs());
    bool any = false;
    for (size_t i = 0; i < needed.size(); ++i) any |= needed[i] = task_should_compute_output(i);
    if (!grads[0].defined() || !any) return variable_list(num_outputs());
    auto result = backward_(grads[0], needed);
    TORCH_INTERNAL_ASSERT(result.size() == num_outputs(), name_, " returned ", result.size(),
                          " gradients for ", num_outputs(), " inputs");
    return result;
  }

 private:
  std::string name_;
  Backward backward_;
};

// Tensor arguments in order, TensorList elements flattened (the node's next edges).
std::vector<at::Tensor> tensor_inputs(c10::ArrayRef<c10::IValue> args) {
  std::vector<at::Tensor> inputs;
  for (const auto& a : args) {
    if (a.isTensor()) {
      inputs.push_back(a.toTensor());
    } else if (a.isTensorList()) {
      for (const at::Tensor& t : a.toTensorList()) inputs.push_back(t);
    }
  }
  return inputs;
}

// Whether the op writes its first argument (add_, _index_put_impl_): its schema marks it (a!).
bool writes_self(const c10::FunctionSchema& schema) {
  const auto& args = schema.arguments();
  return !args.empty() && args[0].alias_info() != nullptr && args[0].alias_info()->isWrite();
}

// The AutogradPrivateUse1 kernel of one op: what libtorch's generated autograd kernel does
// (run the op below autograd, connect the output to the inputs), with our backward. An in-place
// op is connected the way libtorch connects one: the node's edges are the inputs' histories from
// before the write, and self's history is rebased onto the node after it.
class DerivativeKernel final : public c10::OperatorKernel {
 public:
  explicit DerivativeKernel(MakeBackward make) : make_(std::move(make)) {}

  void operator()(const c10::OperatorHandle& op, c10::DispatchKeySet ks, torch::jit::Stack* stack) {
    const auto& schema = op.schema();
    const size_t n = schema.arguments().size();
    c10::ArrayRef<c10::IValue> args(stack->data() + stack->size() - n, n);
    auto inputs = tensor_inputs(args);
    for (const auto& t : inputs)
      TORCH_CHECK_NOT_IMPLEMENTED(!t.defined() || !t._fw_grad(/*level=*/0).defined(), "dtensor: ",
                                  schema.name(), " on DTensors has no forward-mode AD formula; "
                                  "use reverse mode (backward) instead");
    const bool inplace = writes_self(schema);
    const bool record = torch::autograd::compute_requires_grad(inputs);
    if (inplace) torch::autograd::check_inplace(inputs.front(), record);
    Backward backward = record ? make_(args) : Backward();
    std::shared_ptr<DerivativeNode> node;
    if (record) {
      node = std::shared_ptr<DerivativeNode>(
          new DerivativeNode("dtensor::" + schema.name().substr(schema.name().find("::") + 2) + "_backward",
                             std::move(backward)),
          torch::autograd::deleteNode);
      node->set_next_edges(torch::autograd::collect_next_edges(inputs));
    }
    {
      at::AutoDispatchBelowADInplaceOrView guard;
      op.redispatchBoxed(ks & c10::after_autograd_keyset, stack);
    }
    // (For an in-place op the redispatch passes through ADInplaceOrView, which bumps the version.)
    if (!record) return;
    at::Tensor out = stack->back().toTensor();
    if (inplace) {
      torch::autograd::rebase_history(out, node);
    } else {
      torch::autograd::set_history(out, node);
    }
  }

 private:
  MakeBackward make_;
};

c10::OperatorName parse_name(const std::string& full) {
  const auto dot = full.find('.');
  if (dot == std::string::npos) return {full, ""};
  return {full.substr(0, dot), full.substr(dot + 1)};
}

}  // namespace

void register_derivative(const char* op_name, MakeBackward make) {
  // Registrations stay for the life of the process.
  static auto* handles = new std::vector<c10::RegistrationHandleRAII>();
  handles->push_back(c10::Dispatcher::singleton().registerImpl(
      parse_name(op_name), c10::DispatchKey::AutogradPrivateUse1,
      c10::KernelFunction::makeFromBoxedFunctor(std::make_unique<DerivativeKernel>(std::move(make))),
      c10::nullopt, nullptr, std::string("dtensor: DTensor derivative of ") + op_name));
}

}  // namespace dtensor::ops
