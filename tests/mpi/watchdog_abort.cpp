// Rank 1 never joins rank 0's blocking allreduce. The watchdog must abort the job with its message
// after the 500 ms group timeout (CTest matches the message); returning at all is a failure.
#include <chrono>
#include <cstdio>
#include <thread>

#include <dtensor/runtime/process_group_mpi.h>

int main() {
  auto world = dtensor::ProcessGroupMPI::create_world(std::chrono::milliseconds(500));
  if (world->getRank() == 1) {
    std::this_thread::sleep_for(std::chrono::seconds(30));  // outlives the abort
    return 1;
  }
  at::Tensor tensor = at::ones({256});
  world->allreduce_blocking(tensor, c10d::ReduceOp::SUM);
  std::fprintf(stderr, "allreduce returned although rank 1 never joined\n");
  return 1;
}
