// The rendezvous store shared by the store-based backends (gloo, nccl).
#include <torch/csrc/distributed/c10d/HashStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "runtime/backend.h"

namespace dtensor::detail {

c10::intrusive_ptr<c10d::Store> make_store(const LaunchEnv& env, std::chrono::milliseconds timeout) {
  if (env.world_size == 1) return c10::make_intrusive<c10d::HashStore>();
  TORCH_CHECK(env.master_port.has_value(),
              "MASTER_PORT is not set: backends gloo and nccl need MASTER_ADDR and MASTER_PORT to "
              "rendezvous ", env.world_size, " processes (launcher: ", env.launcher,
              "). Start the program with dtensor-run or torchrun, or set both variables.");
  TORCH_CHECK(env.master_addr.has_value() || env.launcher == "torchrun",
              "MASTER_ADDR is not set: backends gloo and nccl need the address of rank 0's host");
  c10d::TCPStoreOptions options;
  options.port = static_cast<uint16_t>(*env.master_port);
  options.isServer = env.rank == 0 && !env.agent_store;
  options.numWorkers = env.agent_store ? c10::nullopt : c10::optional<size_t>(env.world_size);
  // Every rank checks in (clients add 1 to the init key and return); the server waits until the
  // whole world has checked in or the timeout passes. Clients that skip the check-in leave the
  // server waiting for the full timeout.
  options.waitWorkers = true;
  options.timeout = timeout;
  return c10::make_intrusive<c10d::TCPStore>(env.master_addr.value_or("127.0.0.1"), options);
}

}  // namespace dtensor::detail
