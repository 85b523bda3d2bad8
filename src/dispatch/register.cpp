#include "dispatch/register.h"

#include <vector>

#include <ATen/core/dispatch/Dispatcher.h>

#include "dispatch/kernel.h"

namespace dtensor::detail {
namespace {

// CompositeImplicitAutograd ops that must not decompose on DTensors: their decomposition allocates
// its result with a factory (at::zeros(sizes, grad.options())), which makes a plain tensor, then
// writes DTensors into it. They are backward helpers, called with grad mode off, so running them as
// one op (no autograd of their own) loses nothing; their sharding rules live with their forward ops.
bool keep_whole(const c10::OperatorName& name) {
  return name.name == "aten::value_selecting_reduction_backward";  // max.dim, min.dim, sort, topk...
}

// Registrations stay for the life of the process.
std::vector<c10::RegistrationHandleRAII>* register_kernels() {
  auto* handles = new std::vector<c10::RegistrationHandleRAII>();
  auto& dispatcher = c10::Dispatcher::singleton();
  for (const auto& name : dispatcher.getAllOpNames()) {
    if (name.name.rfind("aten::", 0) != 0) continue;
    auto op = dispatcher.findOp(name);
    if (!op || (op->hasKernelForDispatchKey(c10::DispatchKey::CompositeImplicitAutograd) && !keep_whole(name)))
      continue;
    handles->push_back(dispatcher.registerImpl(
        name, c10::DispatchKey::PrivateUse1,
        c10::KernelFunction::makeFromBoxedFunction<&dtensor_kernel>(), c10::nullopt, nullptr,
        "dtensor: sharding propagation kernel"));
    if (keep_whole(name)) {
      // Without a kernel of its own the autograd key would look for the decomposition.
      handles->push_back(dispatcher.registerImpl(name, c10::DispatchKey::AutogradPrivateUse1,
                                                 c10::KernelFunction::makeFallthrough(), c10::nullopt,
                                                 nullptr, "dtensor: no autograd for backward helpers"));
    }
  }
  return handles;
}

}  // namespace

// Runs on every DTensorImpl construction: a function-local static's initialisation guard is one
// load once done, where std::call_once goes through thread-local storage on every call.
void ensure_kernels_registered() {
  static const auto* handles = register_kernels();
  (void)handles;
}

}  // namespace dtensor::detail
