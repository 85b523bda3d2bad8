// Fork-per-test harness for multi-rank tests.
//
// run_world(n, body) forks n processes that form one process group (this parent process hosts the
// rendezvous TCPStore, like torchrun's agent, on a free port) and runs body(rank) in each. The test
// fails when any rank fails an assertion, throws, crashes or outlives the deadline; the other ranks
// are then killed after a short grace period, so a broken collective never stalls the suite.
#pragma once

#include <chrono>
#include <functional>
#include <string>

namespace dtensor::testing {

struct WorldOptions {
  std::chrono::seconds deadline{90};              // whole-world wall clock limit
  std::chrono::milliseconds pg_timeout{20000};    // InitOptions::timeout in every rank
  std::string backend = "gloo";
  bool init = true;                               // call init_process_group before body
  int intra_op_threads = 1;                       // 2 cores shared by up to 4 ranks
};

void run_world(int world_size, const std::function<void(int rank)>& body,
               const WorldOptions& options = {});

// Result of one rank in run_world_capture (for tests that expect a rank to fail).
struct RankOutcome {
  int exit_code = 0;          // -signal when killed by a signal
  bool timed_out = false;
};
// Like run_world but returns each rank's outcome instead of failing the test on bad outcomes.
std::vector<RankOutcome> run_world_capture(int world_size, const std::function<void(int rank)>& body,
                                           const WorldOptions& options = {});

}  // namespace dtensor::testing
