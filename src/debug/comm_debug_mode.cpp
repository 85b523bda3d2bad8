#include <dtensor/debug/comm_debug_mode.h>

#include <mutex>
#include <sstream>

#include <dtensor/comm.h>

#include "debug/module_context.h"

namespace dtensor::debug {

struct CommDebugMode::State {
  std::mutex mutex;
  std::map<std::string, int64_t> totals;
  std::map<std::string, std::map<std::string, std::map<std::string, int64_t>>> per_module;
};

CommDebugMode::CommDebugMode() : state_(std::make_shared<State>()) {
  detail::start_tracking();
  handle_ = comm::add_observer([state = state_](const char* name, int64_t) {
    const std::string module = detail::current_module_path();
    const char* phase = detail::in_backward() ? "backward" : "forward";
    std::lock_guard<std::mutex> lock(state->mutex);
    ++state->totals[name];
    ++state->per_module[module][phase][name];
  });
}

CommDebugMode::~CommDebugMode() {
  comm::remove_observer(handle_);
  detail::stop_tracking();
}

int64_t CommDebugMode::get_total_counts() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  int64_t n = 0;
  for (const auto& [name, count] : state_->totals) n += count;
  return n;
}

std::map<std::string, int64_t> CommDebugMode::get_comm_counts() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->totals;
}

std::map<std::string, std::map<std::string, std::map<std::string, int64_t>>>
CommDebugMode::get_per_module_counts() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->per_module;
}

std::string CommDebugMode::table() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  std::ostringstream os;
  os << "module                         phase     collective        count\n";
  for (const auto& [module, phases] : state_->per_module) {
    for (const auto& [phase, counts] : phases) {
      for (const auto& [name, count] : counts) {
        std::string m = module.empty() ? "(outside modules)" : module;
        os << m << std::string(m.size() < 31 ? 31 - m.size() : 1, ' ') << phase
           << std::string(10 - std::min<size_t>(phase.size(), 9), ' ') << name
           << std::string(18 - std::min<size_t>(name.size(), 17), ' ') << count << "\n";
      }
    }
  }
  int64_t total = 0;
  for (const auto& [name, count] : state_->totals) total += count;
  os << "total" << std::string(54, ' ') << total << "\n";
  return os.str();
}

}  // namespace dtensor::debug
