// Which launcher started this process, and the rank/world it assigned.
#pragma once

#include <optional>
#include <string>

namespace dtensor::detail {

struct LaunchEnv {
  std::string launcher;        // "torchrun", "mpirun", "pmi", "slurm" or "none"
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_world_size = 1;
  std::optional<std::string> master_addr;
  std::optional<int> master_port;
  bool agent_store = false;    // TORCHELASTIC_USE_AGENT_STORE=True: the agent hosts the store
};

// Reads the variables listed in runtime.h. Malformed or inconsistent values (rank >= world size,
// a non-numeric MASTER_PORT, ...) raise c10::Error naming the variable and what was expected.
LaunchEnv read_launch_env();

}  // namespace dtensor::detail
