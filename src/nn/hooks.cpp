#include <dtensor/nn/hooks.h>

#include <mutex>
#include <unordered_map>

#include <torch/nn/module.h>

#include "debug/module_context.h"

namespace dtensor::nn {
namespace {

struct Entry {
  // Set when the module is owned by a shared_ptr: an expired owner means the module died and a
  // new one may live at the same address, so the entry is stale.
  std::weak_ptr<const torch::nn::Module> owner;
  bool owned = false;
  std::vector<std::pair<int64_t, ForwardPreHook>> pre;
  std::vector<std::pair<int64_t, ForwardHook>> post;
  std::string path;
  bool distributed = false;
  bool live() const { return !owned || !owner.expired(); }
};

std::mutex g_mutex;
std::unordered_map<const torch::nn::Module*, Entry>& registry() {
  static auto* r = new std::unordered_map<const torch::nn::Module*, Entry>();
  return *r;
}
int64_t g_next_id = 0;

// The live entry for `m`, or nullptr; drops a stale one. Caller holds g_mutex.
Entry* find_entry(const torch::nn::Module& m) {
  auto& r = registry();
  auto it = r.find(&m);
  if (it == r.end()) return nullptr;
  if (it->second.live()) return &it->second;
  r.erase(it);
  return nullptr;
}

Entry& entry_for(const torch::nn::Module& m) {
  if (Entry* e = find_entry(m)) return *e;
  Entry e;
  try {
    e.owner = m.shared_from_this();
    e.owned = true;
  } catch (const std::bad_weak_ptr&) {
    // A module on the stack: nothing to watch.
  }
  return registry().emplace(&m, std::move(e)).first->second;
}

}  // namespace

void HookHandle::remove() {
  if (module_ == nullptr) return;
  std::lock_guard<std::mutex> lock(g_mutex);
  auto it = registry().find(module_);
  if (it != registry().end()) {
    auto& e = it->second;
    e.pre.erase(std::remove_if(e.pre.begin(), e.pre.end(), [&](const auto& h) { return h.first == id_; }), e.pre.end());
    e.post.erase(std::remove_if(e.post.begin(), e.post.end(), [&](const auto& h) { return h.first == id_; }), e.post.end());
  }
  module_ = nullptr;
}

HookHandle register_forward_pre_hook(torch::nn::Module& module, ForwardPreHook hook) {
  std::lock_guard<std::mutex> lock(g_mutex);
  const int64_t id = g_next_id++;
  entry_for(module).pre.emplace_back(id, std::move(hook));
  return HookHandle(&module, id);
}

HookHandle register_forward_hook(torch::nn::Module& module, ForwardHook hook) {
  std::lock_guard<std::mutex> lock(g_mutex);
  const int64_t id = g_next_id++;
  entry_for(module).post.emplace_back(id, std::move(hook));
  return HookHandle(&module, id);
}

namespace detail {

ModuleHooks hooks_of(const torch::nn::Module& module) {
  std::lock_guard<std::mutex> lock(g_mutex);
  ModuleHooks h;
  const Entry* e = find_entry(module);
  if (e == nullptr) return h;
  for (const auto& p : e->pre) h.pre.push_back(p.second);
  for (const auto& p : e->post) h.post.push_back(p.second);
  h.path = e->path;
  return h;
}

void set_module_path(const torch::nn::Module& module, const std::string& path) {
  std::lock_guard<std::mutex> lock(g_mutex);
  entry_for(module).path = path;
}

bool mark_distributed(const torch::nn::Module& module) {
  std::lock_guard<std::mutex> lock(g_mutex);
  auto& e = entry_for(module);
  if (e.distributed) return false;
  e.distributed = true;
  return true;
}

struct ForwardScope::State {
  explicit State(const std::string& path) : scope(path) {}
  debug::detail::ModuleScope scope;
};

ForwardScope::ForwardScope(const std::string& path)
    : state_(path.empty() ? nullptr : std::make_unique<State>(path)) {}
ForwardScope::~ForwardScope() = default;

}  // namespace detail
}  // namespace dtensor::nn
