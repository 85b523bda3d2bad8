// Forward hooks for libtorch modules (which have none).
//
// Hooks live in a registry keyed by module; dtensor::nn::ModuleHolder runs them around forward:
//   pre-hooks  see the positional tensor arguments and may replace them (non-tensor arguments
//              pass untouched);
//   hooks      see the inputs (as given to forward) and the tensor outputs, and may replace the
//              outputs.
// Hooks run in registration order. A module only ever called through a plain torch holder never
// runs its hooks.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace torch::nn {
class Module;
}

namespace dtensor::nn {

using ForwardPreHook = std::function<void(torch::nn::Module& module, std::vector<at::Tensor>& inputs)>;
using ForwardHook = std::function<void(torch::nn::Module& module, const std::vector<at::Tensor>& inputs,
                                       std::vector<at::Tensor>& outputs)>;

// Removes its hook on remove(); a handle dropped without remove() leaves the hook in place.
class HookHandle {
 public:
  HookHandle() = default;
  HookHandle(const torch::nn::Module* module, int64_t id) : module_(module), id_(id) {}
  void remove();

 private:
  const torch::nn::Module* module_ = nullptr;
  int64_t id_ = -1;
};

HookHandle register_forward_pre_hook(torch::nn::Module& module, ForwardPreHook hook);
HookHandle register_forward_hook(torch::nn::Module& module, ForwardHook hook);

namespace detail {

// Hooks of one module, snapshot for one forward call; empty when the module has none.
struct ModuleHooks {
  std::vector<ForwardPreHook> pre;
  std::vector<ForwardHook> post;
  std::string path;  // the module's path as named by parallelize_module, if any
  bool empty() const { return pre.empty() && post.empty() && path.empty(); }
};
ModuleHooks hooks_of(const torch::nn::Module& module);

// The path CommDebugMode reports for this module ("" for none).
void set_module_path(const torch::nn::Module& module, const std::string& path);

// Per-module flag for distribute_module's "only once" rule.
bool mark_distributed(const torch::nn::Module& module);  // false if it already was

// While alive, collectives are attributed to `path` by CommDebugMode (no-op for "").
class ForwardScope {
 public:
  explicit ForwardScope(const std::string& path);
  ~ForwardScope();
  ForwardScope(const ForwardScope&) = delete;
  ForwardScope& operator=(const ForwardScope&) = delete;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace detail
}  // namespace dtensor::nn
