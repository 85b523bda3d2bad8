// Backend-specific construction of the world process group and of subgroups.
#pragma once

#include <chrono>
#include <functional>
#include <vector>

#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include "runtime/launch_env.h"

namespace dtensor::detail {

struct BackendWorld {
  c10::intrusive_ptr<c10d::ProcessGroup> world;
  // Collective over the world; `ranks` distinct global ranks (group rank i = ranks[i]), `group_id` the same on every
  // process for the same call. Returns null on non-members.
  std::function<c10::intrusive_ptr<c10d::ProcessGroup>(const std::vector<int>& ranks,
                                                       int64_t group_id)>
      new_group;
};

// TCPStore at MASTER_ADDR:MASTER_PORT: rank 0 hosts it unless the torchrun agent does; a world of
// one uses an in-process HashStore.
c10::intrusive_ptr<c10d::Store> make_store(const LaunchEnv& env, std::chrono::milliseconds timeout);

BackendWorld create_gloo_world(const LaunchEnv& env, std::chrono::milliseconds timeout);
BackendWorld create_mpi_world(const LaunchEnv& env, std::chrono::milliseconds timeout);
BackendWorld create_nccl_world(const LaunchEnv& env, std::chrono::milliseconds timeout);

}  // namespace dtensor::detail
