// NCCL world, when libtorch was built with CUDA (define DTENSOR_WITH_NCCL; see CMakeLists.txt).
#include "runtime/backend.h"

#ifdef DTENSOR_WITH_NCCL
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace dtensor::detail {

BackendWorld create_nccl_world(const LaunchEnv& env, std::chrono::milliseconds timeout) {
#ifdef DTENSOR_WITH_NCCL
  // One GPU per local rank, as torchrun users expect.
  c10::cuda::set_device(static_cast<c10::DeviceIndex>(env.local_rank % c10::cuda::device_count()));
  auto store = make_store(env, timeout);
  auto options = c10d::ProcessGroupNCCL::Options::create();
  options->timeout = timeout;
  auto make_group = [store, options](const std::string& prefix, int rank, int size) {
    return c10::make_intrusive<c10d::ProcessGroupNCCL>(
        c10::make_intrusive<c10d::PrefixStore>(prefix, store), rank, size, options);
  };
  BackendWorld world;
  world.world = make_group("world", env.rank, env.world_size);
  const int my_rank = env.rank;
  world.new_group = [make_group, my_rank](const std::vector<int>& ranks, int64_t group_id)
      -> c10::intrusive_ptr<c10d::ProcessGroup> {
    auto it = std::find(ranks.begin(), ranks.end(), my_rank);
    if (it == ranks.end()) return {};
    return make_group("group" + std::to_string(group_id), static_cast<int>(it - ranks.begin()),
                      static_cast<int>(ranks.size()));
  };
  return world;
#else
  TORCH_CHECK(false, "backend 'nccl' is not available: this dtensor was built against a libtorch "
              "without CUDA/NCCL. Use backend 'gloo' or 'mpi' for CPU tensors.");
#endif
}

}  // namespace dtensor::detail
