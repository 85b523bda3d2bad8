// Where a collective comes from, for CommDebugMode's per-module table.
//
// Forward: hookable modules push their path while they run (ModuleScope). Backward: autograd
// runs nodes, not modules, so while tracking is on each ModuleScope also records the range of
// autograd sequence numbers its forward created; a RecordFunction callback on backward nodes
// reads the running node's sequence number and finds the innermost module whose range holds it.
#pragma once

#include <cstdint>
#include <string>

namespace dtensor::debug::detail {

class ModuleScope {
 public:
  explicit ModuleScope(const std::string& path);  // the module's full dotted path
  ~ModuleScope();
  ModuleScope(const ModuleScope&) = delete;
  ModuleScope& operator=(const ModuleScope&) = delete;

 private:
  uint64_t first_sequence_nr_;
};

// "layers.0.attention" or "" outside hookable modules.
std::string current_module_path();
bool in_backward();

// Reference-counted: on while any CommDebugMode is alive.
void start_tracking();
void stop_tracking();

}  // namespace dtensor::debug::detail
