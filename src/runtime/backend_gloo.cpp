// Gloo world: rendezvous through a c10d TCPStore, one ProcessGroupGloo per group.
#include <cstdlib>

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>

#include "runtime/backend.h"
#include "util/log.h"

namespace dtensor::detail {
namespace {

bool is_loopback(const std::string& addr) {
  return addr == "localhost" || addr.rfind("127.", 0) == 0 || addr == "::1";
}

// GLOO_SOCKET_IFNAME wins (as in PyTorch); a loopback master means every rank is on this host,
// so loopback avoids depending on how the host name resolves; otherwise Gloo's default device.
std::shared_ptr<::gloo::transport::Device> make_device(const LaunchEnv& env) {
  if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname) {
    return c10d::ProcessGroupGloo::createDeviceForInterface(ifname);
  }
  if (env.world_size == 1 || is_loopback(env.master_addr.value_or("127.0.0.1"))) {
    return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  }
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

}  // namespace

BackendWorld create_gloo_world(const LaunchEnv& env, std::chrono::milliseconds timeout) {
  const std::string where = env.master_addr.value_or("127.0.0.1") + ":" +
                            (env.master_port ? std::to_string(*env.master_port) : "?");
  c10::intrusive_ptr<c10d::Store> store;
  std::shared_ptr<::gloo::transport::Device> device;
  try {
    store = make_store(env, timeout);
    device = make_device(env);
  } catch (const c10::Error&) {
    throw;
  } catch (const std::exception& e) {
    TORCH_CHECK(false, "rendezvous at ", where, " failed for rank ", env.rank, " of ",
                env.world_size, " within ", timeout.count(), " ms: ", e.what(),
                ". Is every rank started, and is the port reachable?");
  }
  auto options = c10d::ProcessGroupGloo::Options::create();
  options->timeout = timeout;
  options->devices = {device};
  options->threads = 1;  // collectives are issued in order; more threads only cost memory

  auto make_group = [store, options, timeout, where](const std::string& prefix, int rank,
                                                     int size) {
    try {
      return c10::make_intrusive<c10d::ProcessGroupGloo>(
          c10::make_intrusive<c10d::PrefixStore>(prefix, store), rank, size, options);
    } catch (const std::exception& e) {
      TORCH_CHECK(false, "gloo process group '", prefix, "' (rank ", rank, " of ", size,
                  ") did not form within ", timeout.count(), " ms at ", where, ": ", e.what(),
                  ". A peer is missing: did every rank start and call the same collective setup?");
    }
  };

  BackendWorld world;
  world.world = make_group("world", env.rank, env.world_size);
  const int my_rank = env.rank;
  world.new_group = [make_group, my_rank](const std::vector<int>& ranks,
                                          int64_t group_id) -> c10::intrusive_ptr<c10d::ProcessGroup> {
    auto it = std::find(ranks.begin(), ranks.end(), my_rank);
    if (it == ranks.end()) return {};
    return make_group("group" + std::to_string(group_id), static_cast<int>(it - ranks.begin()),
                      static_cast<int>(ranks.size()));
  };
  return world;
}

}  // namespace dtensor::detail
