// MPI world: dtensor's own ProcessGroupMPI over MPI_COMM_WORLD; subgroups by communicator split.
#include <dtensor/runtime/process_group_mpi.h>

#include "runtime/backend.h"

namespace dtensor::detail {

BackendWorld create_mpi_world(const LaunchEnv& env, std::chrono::milliseconds timeout) {
  auto world = ProcessGroupMPI::create_world(timeout);
  // A launcher that is not mpirun (dtensor-run, torchrun) starts independent MPI singletons.
  TORCH_CHECK(world->getSize() == env.world_size && world->getRank() == env.rank,
              "backend 'mpi' sees rank ", world->getRank(), " of ", world->getSize(),
              " but the launcher environment (", env.launcher, ") says rank ", env.rank, " of ",
              env.world_size, ". Start MPI programs with mpirun -np N, or choose backend 'gloo'.");
  BackendWorld result;
  result.world = world;
  result.new_group = [world](const std::vector<int>& ranks,
                             int64_t) -> c10::intrusive_ptr<c10d::ProcessGroup> {
    return world->split(ranks);
  };
  return result;
}

}  // namespace dtensor::detail
