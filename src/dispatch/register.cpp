#include "dispatch/register.h"

#include <mutex>
#include <vector>

#include <ATen/core/dispatch/Dispatcher.h>

#include "dispatch/kernel.h"

namespace dtensor::detail {

void ensure_kernels_registered() {
  static std::once_flag once;
  std::call_once(once, [] {
    auto& dispatcher = c10::Dispatcher::singleton();
    // Registrations stay for the life of the process.
    static auto* handles = new std::vector<c10::RegistrationHandleRAII>();
    for (const auto& name : dispatcher.getAllOpNames()) {
      if (name.name.rfind("aten::", 0) != 0) continue;
      auto op = dispatcher.findOp(name);
      if (!op || op->hasKernelForDispatchKey(c10::DispatchKey::CompositeImplicitAutograd)) continue;
      handles->push_back(dispatcher.registerImpl(
          name, c10::DispatchKey::PrivateUse1,
          c10::KernelFunction::makeFromBoxedFunction<&dtensor_kernel>(), c10::nullopt, nullptr,
          "dtensor: sharding propagation kernel"));
    }
  });
}

}  // namespace dtensor::detail
