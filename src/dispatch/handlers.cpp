#include "dispatch/handlers.h"

#include <map>
#include <mutex>

namespace dtensor::detail {

std::atomic<int> installed_handlers{0};

namespace {
std::mutex g_mutex;
std::map<std::string, OpHandler>& handlers() {
  static auto* h = new std::map<std::string, OpHandler>();
  return *h;
}
}  // namespace

void set_op_handler(const std::string& op_name, OpHandler handler) {
  std::lock_guard<std::mutex> lock(g_mutex);
  auto& h = handlers();
  if (handler) {
    h[op_name] = std::move(handler);
  } else {
    h.erase(op_name);
  }
  installed_handlers.store(static_cast<int>(h.size()));
}

const OpHandler* find_op_handler(const c10::OperatorHandle& op) {
  const auto& s = op.schema();
  std::string name = s.overload_name().empty() ? s.name() : s.name() + "." + s.overload_name();
  std::lock_guard<std::mutex> lock(g_mutex);
  auto it = handlers().find(name);
  // Entries are only erased by set_op_handler on the installing thread's guard exit.
  return it == handlers().end() ? nullptr : &it->second;
}

}  // namespace dtensor::detail
