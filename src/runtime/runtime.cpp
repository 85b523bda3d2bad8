#include <dtensor/runtime.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>

#include <glog/logging.h>

#include "runtime/backend.h"
#include "runtime/launch_env.h"
#include "util/log.h"

namespace dtensor {
namespace {

struct World {
  detail::LaunchEnv env;
  std::string backend;
  std::chrono::milliseconds timeout{};
  detail::BackendWorld groups;
  std::map<std::vector<int>, c10::intrusive_ptr<c10d::ProcessGroup>> subgroups;
  int64_t next_group_id = 0;
};

std::mutex g_mutex;
std::unique_ptr<World> g_world;

World& world() {
  TORCH_CHECK(g_world != nullptr,
              "the dtensor process group is not initialized: call dtensor::init_process_group() "
              "first");
  return *g_world;
}

std::string choose_backend(const InitOptions& options, const detail::LaunchEnv& env) {
  std::string backend = options.backend;
  if (backend.empty()) {
    const char* from_env = std::getenv("DTENSOR_BACKEND");
    backend = from_env && *from_env ? from_env
              : (env.launcher == "mpirun" || env.launcher == "pmi") ? "mpi"
                                                                     : "gloo";
  }
  TORCH_CHECK(backend == "gloo" || backend == "mpi" || backend == "nccl", "unknown backend '",
              backend, "': expected one of gloo, mpi, nccl");
  return backend;
}

// c10 logs through glog, which by default writes INFO to files under /tmp; a launcher user expects
// the terminal, as with torchrun. Uninitialised, glog also prefixes the first message with
// "WARNING: Logging before InitGoogleLogging() is written to STDERR"; a program that initialised
// glog itself keeps its own set-up.
void route_logs_to_stderr() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (!google::IsGoogleLoggingInitialized()) google::InitGoogleLogging("dtensor");
    FLAGS_logtostderr = true;
  });
}

}  // namespace

void init_process_group(const InitOptions& options) {
  std::unique_lock<std::mutex> lock(g_mutex);
  TORCH_CHECK(g_world == nullptr,
              "init_process_group was called twice; call destroy_process_group() first");
  TORCH_CHECK(options.timeout.count() > 0, "InitOptions::timeout must be positive, got ",
              options.timeout.count(), " ms");
  route_logs_to_stderr();
  auto w = std::make_unique<World>();
  w->env = detail::read_launch_env();
  w->backend = choose_backend(options, w->env);
  w->timeout = options.timeout;
  if (w->backend == "gloo") {
    w->groups = detail::create_gloo_world(w->env, options.timeout);
  } else if (w->backend == "mpi") {
    w->groups = detail::create_mpi_world(w->env, options.timeout);
  } else {
    w->groups = detail::create_nccl_world(w->env, options.timeout);
  }
  const std::string summary = c10::str("dtensor: world of ", w->env.world_size, " processes, backend ",
                                       w->backend, ", launcher ", w->env.launcher, ", timeout ",
                                       w->timeout.count(), " ms");
  g_world = std::move(w);
  lock.unlock();  // logging reads the rank under the same mutex
  DTENSOR_LOG_INFO(summary);
}

bool is_initialized() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_world != nullptr;
}

int get_rank() { return world().env.rank; }
int get_world_size() { return world().env.world_size; }
int get_local_rank() { return world().env.local_rank; }
int get_local_world_size() { return world().env.local_world_size; }
const std::string& get_backend() { return world().backend; }
std::chrono::milliseconds get_timeout() { return world().timeout; }
c10::intrusive_ptr<c10d::ProcessGroup> world_group() { return world().groups.world; }

void destroy_process_group() {
  std::unique_ptr<World> doomed;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    TORCH_CHECK(g_world != nullptr, "destroy_process_group: no process group is initialized");
    doomed = std::move(g_world);
  }
  // Groups are destroyed outside the lock: Gloo joins its worker threads here.
}

c10::intrusive_ptr<c10d::ProcessGroup> new_group(const std::vector<int>& ranks) {
  std::lock_guard<std::mutex> lock(g_mutex);
  World& w = world();
  TORCH_CHECK(!ranks.empty(), "new_group: empty rank list");
  std::vector<bool> seen(w.env.world_size, false);
  bool identity = static_cast<int>(ranks.size()) == w.env.world_size;
  for (size_t i = 0; i < ranks.size(); ++i) {
    TORCH_CHECK(ranks[i] >= 0 && ranks[i] < w.env.world_size, "new_group: rank ", ranks[i],
                " is outside the world of ", w.env.world_size);
    TORCH_CHECK(!seen[ranks[i]], "new_group: rank ", ranks[i], " is repeated in [",
                c10::Join(", ", ranks), "]");
    seen[ranks[i]] = true;
    identity = identity && ranks[i] == static_cast<int>(i);
  }
  if (identity) return w.groups.world;
  if (auto it = w.subgroups.find(ranks); it != w.subgroups.end()) return it->second;
  auto group = w.groups.new_group(ranks, w.next_group_id++);
  w.subgroups.emplace(ranks, group);
  return group;
}

namespace detail {

std::string rank_prefix() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_world ? "[rank " + std::to_string(g_world->env.rank) + "] " : std::string();
}

bool log_enabled_here() {
  static const bool all = [] {
    const char* v = std::getenv("DTENSOR_LOG_RANKS");
    return v != nullptr && std::string(v) == "all";
  }();
  std::lock_guard<std::mutex> lock(g_mutex);
  return all || g_world == nullptr || g_world->env.rank == 0;
}

}  // namespace detail
}  // namespace dtensor
