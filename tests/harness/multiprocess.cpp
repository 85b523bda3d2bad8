#include "harness/multiprocess.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <ATen/Parallel.h>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <dtensor/runtime.h>

namespace dtensor::testing {
namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void run_child(int rank, int world_size, int port,
                            const std::function<void(int)>& body, const WorldOptions& options) {
  setenv("RANK", std::to_string(rank).c_str(), 1);
  setenv("LOCAL_RANK", std::to_string(rank).c_str(), 1);
  setenv("WORLD_SIZE", std::to_string(world_size).c_str(), 1);
  setenv("LOCAL_WORLD_SIZE", std::to_string(world_size).c_str(), 1);
  setenv("MASTER_ADDR", "127.0.0.1", 1);
  setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
  // The parent holds the store, as the torchrun agent does.
  setenv("TORCHELASTIC_USE_AGENT_STORE", "True", 1);
  at::set_num_threads(options.intra_op_threads);
  int code = 0;
  {
    SCOPED_TRACE("rank " + std::to_string(rank));
    try {
      if (options.init) {
        InitOptions init;
        init.backend = options.backend;
        init.timeout = options.pg_timeout;
        init_process_group(init);
      }
      body(rank);
      if (is_initialized()) destroy_process_group();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "[rank %d] uncaught exception: %s\n", rank, e.what());
      code = 2;
    }
  }
  if (code == 0 && ::testing::Test::HasFailure()) code = 1;
  std::fflush(stdout);
  std::fflush(stderr);
  _exit(code);  // no atexit handlers: they belong to the parent (gtest, the store)
}

std::vector<RankOutcome> run_and_wait(int world_size, const std::function<void(int)>& body,
                                      const WorldOptions& options) {
  // Port 0: the kernel picks a free port, so concurrent test processes never collide.
  c10d::TCPStoreOptions store_options;
  store_options.port = 0;
  store_options.isServer = true;
  store_options.numWorkers = world_size;
  store_options.waitWorkers = false;
  store_options.timeout = options.pg_timeout;
  auto store = c10::make_intrusive<c10d::TCPStore>("127.0.0.1", store_options);
  const int port = store->getPort();

  std::fflush(stdout);
  std::fflush(stderr);
  std::vector<pid_t> pids(world_size, -1);
  for (int r = 0; r < world_size; ++r) {
    pid_t pid = fork();
    if (pid < 0) {
      for (pid_t p : pids)
        if (p > 0) kill(p, SIGKILL);
      throw std::runtime_error("fork failed");
    }
    if (pid == 0) run_child(r, world_size, port, body, options);
    pids[r] = pid;
  }

  std::vector<RankOutcome> outcomes(world_size);
  std::vector<bool> done(world_size, false);
  int remaining = world_size;
  const auto deadline = Clock::now() + options.deadline;
  std::optional<Clock::time_point> kill_at;  // set once a rank fails: the others get a grace period
  while (remaining > 0) {
    bool progressed = false;
    for (int r = 0; r < world_size; ++r) {
      if (done[r]) continue;
      int status = 0;
      if (waitpid(pids[r], &status, WNOHANG) != pids[r]) continue;
      done[r] = true;
      --remaining;
      progressed = true;
      outcomes[r].exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
      if (outcomes[r].exit_code != 0 && !kill_at) kill_at = Clock::now() + std::chrono::seconds(5);
    }
    const auto now = Clock::now();
    const bool expired = now >= deadline;
    if (remaining > 0 && (expired || (kill_at && now >= *kill_at))) {
      for (int r = 0; r < world_size; ++r) {
        if (done[r]) continue;
        outcomes[r].timed_out = expired;
        kill(pids[r], SIGKILL);
        waitpid(pids[r], nullptr, 0);
        outcomes[r].exit_code = -SIGKILL;
        done[r] = true;
      }
      remaining = 0;
    }
    if (!progressed && remaining > 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return outcomes;
}

}  // namespace

std::vector<RankOutcome> run_world_capture(int world_size, const std::function<void(int)>& body,
                                           const WorldOptions& options) {
  return run_and_wait(world_size, body, options);
}

void run_world(int world_size, const std::function<void(int)>& body, const WorldOptions& options) {
  auto outcomes = run_and_wait(world_size, body, options);
  for (int r = 0; r < world_size; ++r) {
    const auto& o = outcomes[r];
    if (o.timed_out) {
      ADD_FAILURE() << "rank " << r << " did not finish within " << options.deadline.count()
                    << " s (hung collective?) and was killed";
    } else if (o.exit_code == -SIGKILL) {
      ADD_FAILURE() << "rank " << r << " was killed after another rank failed";
    } else if (o.exit_code < 0) {
      ADD_FAILURE() << "rank " << r << " died from signal " << -o.exit_code;
    } else if (o.exit_code != 0) {
      ADD_FAILURE() << "rank " << r << " failed (exit code " << o.exit_code
                    << "); its messages are above";
    }
  }
}

}  // namespace dtensor::testing
