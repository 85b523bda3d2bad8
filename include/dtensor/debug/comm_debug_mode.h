// CommDebugMode: counts the logical collectives the DTensor layer issues while it is alive
// (redistributions, parallel styles, loss_parallel) — not backend calls: a reduce_scatter composed
// from other calls on Gloo is one "reduce_scatter", Shard(i) -> Shard(j) is one "all_to_all".
// Keys: "all_reduce", "all_gather", "reduce_scatter", "all_to_all", "broadcast", "scatter".
// Zero counts are not listed. Counts are process-wide (backward may run on another thread).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

namespace dtensor::debug {

class CommDebugMode {  // RAII
 public:
  CommDebugMode();
  ~CommDebugMode();
  CommDebugMode(const CommDebugMode&) = delete;
  CommDebugMode& operator=(const CommDebugMode&) = delete;

  int64_t get_total_counts() const;
  std::map<std::string, int64_t> get_comm_counts() const;
  // Per module path (hookable modules), forward vs backward, then the totals.
  std::string table() const;

  // Collectives per module path and phase ("forward" / "backward"); "" is outside any module.
  std::map<std::string, std::map<std::string, std::map<std::string, int64_t>>> get_per_module_counts() const;

  struct State;

 private:
  std::shared_ptr<State> state_;
  int handle_;
};

}  // namespace dtensor::debug
