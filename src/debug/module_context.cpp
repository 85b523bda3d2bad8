#include "debug/module_context.h"

#include <map>
#include <mutex>
#include <vector>

#include <ATen/SequenceNumber.h>
#include <ATen/record_function.h>
#include <c10/util/StringUtil.h>

namespace dtensor::debug::detail {
namespace {

thread_local std::vector<std::string> t_module_stack;   // forward: paths of running modules
thread_local std::vector<int64_t> t_backward_nodes;      // backward: sequence nrs of running nodes

struct Span {
  uint64_t first, last;  // [first, last) of the sequence numbers created inside the module
  std::string path;
};

std::mutex g_mutex;
int g_tracking = 0;
std::vector<Span> g_spans;
at::CallbackHandle g_callback = 0;

std::unique_ptr<at::ObserverContext> on_node_start(const at::RecordFunction& fn) {
  t_backward_nodes.push_back(fn.seqNr());
  return nullptr;
}

void on_node_end(const at::RecordFunction&, at::ObserverContext*) {
  if (!t_backward_nodes.empty()) t_backward_nodes.pop_back();
}

}  // namespace

ModuleScope::ModuleScope(const std::string& path) : first_sequence_nr_(at::sequence_number::peek()) {
  t_module_stack.push_back(path);
}

ModuleScope::~ModuleScope() {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_tracking > 0) g_spans.push_back({first_sequence_nr_, at::sequence_number::peek(), t_module_stack.back()});
  t_module_stack.pop_back();
}

bool in_backward() { return !t_backward_nodes.empty(); }

std::string current_module_path() {
  if (t_backward_nodes.empty()) return t_module_stack.empty() ? std::string() : t_module_stack.back();
  const int64_t seq = t_backward_nodes.back();
  if (seq < 0) return "";
  std::lock_guard<std::mutex> lock(g_mutex);
  const Span* best = nullptr;
  for (const auto& s : g_spans) {
    if (static_cast<uint64_t>(seq) < s.first || static_cast<uint64_t>(seq) >= s.last) continue;
    if (best == nullptr || s.last - s.first <= best->last - best->first) best = &s;
  }
  return best ? best->path : std::string();
}

void start_tracking() {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_tracking++ > 0) return;
  g_callback = at::addGlobalCallback(at::RecordFunctionCallback(&on_node_start, &on_node_end)
                                         .scopes({at::RecordScope::BACKWARD_FUNCTION}));
}

void stop_tracking() {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (--g_tracking > 0) return;
  at::removeCallback(g_callback);
  g_spans.clear();
}

}  // namespace dtensor::debug::detail
