// init_process_group: launcher environments, bad launches, timeouts, dead peers.
#include <unistd.h>

#include <thread>

#include <dtensor/comm.h>
#include <dtensor/runtime.h>

#include "harness/expect.h"
#include "harness/multiprocess.h"

using dtensor::testing::run_world;
using dtensor::testing::WorldOptions;
using namespace std::chrono_literals;

namespace {

void clear_launcher_env() {
  for (const char* v : {"RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR",
                        "MASTER_PORT", "TORCHELASTIC_USE_AGENT_STORE", "OMPI_COMM_WORLD_RANK",
                        "OMPI_COMM_WORLD_SIZE", "PMI_RANK", "PMI_SIZE", "SLURM_PROCID",
                        "SLURM_NTASKS", "DTENSOR_BACKEND"})
    unsetenv(v);
}

WorldOptions no_init() {
  WorldOptions o;
  o.init = false;
  return o;
}

}  // namespace

TEST(Runtime, WorldOfOneWithoutLauncher) {
  run_world(1, [](int) {
    clear_launcher_env();
    dtensor::init_process_group();
    EXPECT_TRUE(dtensor::is_initialized());
    EXPECT_EQ(dtensor::get_rank(), 0);
    EXPECT_EQ(dtensor::get_world_size(), 1);
    EXPECT_EQ(dtensor::get_backend(), "gloo");
    auto t = dtensor::comm::all_reduce(at::ones({3}), dtensor::comm::ReduceOp::Sum,
                                       dtensor::world_group());
    EXPECT_TRUE(t.equal(at::ones({3})));
    dtensor::destroy_process_group();
    EXPECT_FALSE(dtensor::is_initialized());
  }, no_init());
}

TEST(Runtime, TorchrunEnvironmentGivesRanks) {
  for (int n : {2, 3, 4}) {
    run_world(n, [n](int rank) {
      EXPECT_EQ(dtensor::get_rank(), rank);
      EXPECT_EQ(dtensor::get_world_size(), n);
      EXPECT_EQ(dtensor::get_local_rank(), rank);
      EXPECT_EQ(dtensor::get_local_world_size(), n);
      auto sum = dtensor::comm::all_reduce(at::full({2}, rank + 1.0), dtensor::comm::ReduceOp::Sum,
                                           dtensor::world_group());
      EXPECT_TRUE(sum.equal(at::full({2}, n * (n + 1) / 2.0)));
    });
  }
}

TEST(Runtime, InitTwiceIsAnError) {
  run_world(2, [](int) {
    EXPECT_THROW_MSG(dtensor::init_process_group(), c10::Error, "called twice");
  });
}

TEST(Runtime, UnknownBackendIsAnError) {
  run_world(1, [](int) {
    dtensor::InitOptions o;
    o.backend = "tcp";
    EXPECT_THROW_MSG(dtensor::init_process_group(o), c10::Error, "expected one of gloo, mpi, nccl");
  }, no_init());
}

TEST(Runtime, NcclWithoutCudaIsAnError) {
  run_world(1, [](int) {
    clear_launcher_env();
    dtensor::InitOptions o;
    o.backend = "nccl";
    EXPECT_THROW_MSG(dtensor::init_process_group(o), c10::Error, "nccl");
  }, no_init());
}

TEST(Runtime, RankNotBelowWorldSizeIsAnError) {
  run_world(1, [](int) {
    clear_launcher_env();
    setenv("RANK", "4", 1);
    setenv("WORLD_SIZE", "4", 1);
    EXPECT_THROW_MSG(dtensor::init_process_group(), c10::Error, "rank 4 is not below the world size 4");
  }, no_init());
}

TEST(Runtime, MalformedVariableIsNamed) {
  run_world(1, [](int) {
    clear_launcher_env();
    setenv("RANK", "zero", 1);
    setenv("WORLD_SIZE", "2", 1);
    EXPECT_THROW_MSG(dtensor::init_process_group(), c10::Error, "RANK='zero'");
  }, no_init());
}

TEST(Runtime, MissingMasterPortIsNamed) {
  run_world(1, [](int) {
    clear_launcher_env();
    setenv("RANK", "0", 1);
    setenv("WORLD_SIZE", "2", 1);
    setenv("MASTER_ADDR", "127.0.0.1", 1);
    EXPECT_THROW_MSG(dtensor::init_process_group(), c10::Error, "MASTER_PORT is not set");
  }, no_init());
}

TEST(Runtime, OpenMpiVariablesAreRead) {
  run_world(1, [](int) {
    clear_launcher_env();
    setenv("OMPI_COMM_WORLD_RANK", "0", 1);
    setenv("OMPI_COMM_WORLD_SIZE", "1", 1);
    dtensor::InitOptions o;
    o.backend = "gloo";  // "mpi" would be the default under mpirun
    dtensor::init_process_group(o);
    EXPECT_EQ(dtensor::get_world_size(), 1);
    dtensor::destroy_process_group();
  }, no_init());
}

TEST(Runtime, PeerThatNeverJoinsTimesOut) {
  auto start = std::chrono::steady_clock::now();
  run_world(2, [](int rank) {
    if (rank == 1) return;  // never joins
    dtensor::InitOptions o;
    o.timeout = 1500ms;
    EXPECT_THROW_MSG(dtensor::init_process_group(o), c10::Error, "did not form within 1500 ms");
  }, no_init());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 20s);
}

TEST(Runtime, CollectiveWithMissingPeerTimesOut) {
  WorldOptions o;
  o.pg_timeout = 1500ms;
  run_world(2, [](int rank) {
    if (rank == 1) {
      std::this_thread::sleep_for(4s);  // alive, but never enters the collective
      return;
    }
    auto start = std::chrono::steady_clock::now();
    EXPECT_THROW_MSG(dtensor::comm::all_reduce(at::ones({4}), dtensor::comm::ReduceOp::Sum,
                                               dtensor::world_group()),
                     c10::Error, "all_reduce on a group of 2 ranks failed");
    EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  }, o);
}

TEST(Runtime, RankDyingMidCollectiveFailsTheOthers) {
  WorldOptions o;
  o.pg_timeout = 3000ms;  // below the harness's 5 s grace: the survivors must fail by themselves
  auto outcomes = dtensor::testing::run_world_capture(3, [](int rank) {
    if (rank == 2) _exit(9);  // dies without entering the collective
    EXPECT_THROW(dtensor::comm::all_reduce(at::ones({1 << 16}), dtensor::comm::ReduceOp::Sum,
                                           dtensor::world_group()),
                 c10::Error);
  }, o);
  EXPECT_EQ(outcomes[2].exit_code, 9);
  for (int r : {0, 1}) EXPECT_EQ(outcomes[r].exit_code, 0) << "rank " << r;
}
