#include "comm/observers.h"

#include <map>
#include <mutex>

#include <dtensor/comm.h>

namespace dtensor::comm {
namespace detail {

std::atomic<int> observer_count{0};

namespace {
std::mutex& mutex() {
  static std::mutex m;
  return m;
}
std::map<int, CollectiveObserver>& observers() {
  static std::map<int, CollectiveObserver> o;
  return o;
}
}  // namespace

void notify_slow(const char* name, const at::Tensor& input) {
  const int64_t bytes = input.defined() ? input.numel() * static_cast<int64_t>(input.element_size()) : 0;
  std::lock_guard<std::mutex> lock(mutex());
  for (auto& [handle, observer] : observers()) observer(name, bytes);
}

}  // namespace detail

int add_observer(CollectiveObserver observer) {
  static int next_handle = 0;
  std::lock_guard<std::mutex> lock(detail::mutex());
  const int handle = next_handle++;
  detail::observers().emplace(handle, std::move(observer));
  detail::observer_count.fetch_add(1);
  return handle;
}

void remove_observer(int handle) {
  std::lock_guard<std::mutex> lock(detail::mutex());
  if (detail::observers().erase(handle) > 0) detail::observer_count.fetch_sub(1);
}

}  // namespace dtensor::comm
