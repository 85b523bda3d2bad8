// Collective latency and bus bandwidth on the world group, as JSON on stdout (rank 0).
//
//   dtensor-run --nproc-per-node 2 --no-prefix bench_collectives          # our Gloo path
//   mpirun -np 2 bench_collectives                                        # our MPI path + raw MPI
//
// Paths measured for every (op, size):
//   dtensor        dtensor::comm::{all_reduce, all_gather, reduce_scatter, all_to_all} on
//                  dtensor::world_group() (Gloo or MPI, whatever the process group is), dim 0;
//   raw_mpi        (MPI backend only) the blocking MPI call on MPI_COMM_WORLD into a preallocated
//                  output: MPI_Allreduce (out of place), MPI_Allgather, MPI_Reduce_scatter_block,
//                  MPI_Alltoall. The ceiling;
//   raw_mpi_alloc  (MPI backend only) the same call into an output allocated with at::empty on
//                  every call and dropped afterwards, which is what dtensor's API does (every
//                  collective returns a new tensor). The like-for-like baseline.
//
// Size convention: `bytes` is the per-rank float32 INPUT of the operation (all_gather's output is
// world_size x bytes, reduce_scatter's output bytes / world_size). Bandwidths follow nccl-tests:
// algbw = nccl_bytes / time with nccl_bytes the nccl-tests "size" (all_reduce, reduce_scatter and
// all_to_all: the per-rank input = bytes; all_gather: the gathered output = world_size x bytes),
// busbw = algbw x 2(n-1)/n for all_reduce and x (n-1)/n for the others.
//
// Timing: all paths of an (op, size) run the same number of iterations per block, chosen once so
// that a block of the dtensor path lasts at least --min-block-ms. A block is: barrier, time
// `iters` back-to-back calls, per-iteration time = elapsed / iters, then the MAX over ranks. Blocks
// repeat --repeats times, alternating the order of the paths, and the median is reported.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#define OMPI_SKIP_MPICXX 1
#include <mpi.h>
#include <unistd.h>

#include <dtensor/comm.h>
#include <dtensor/runtime.h>

namespace {

namespace comm = dtensor::comm;
using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

struct Options {
  int64_t min_bytes = 1024;
  int64_t max_bytes = 64 << 20;
  int repeats = 9;
  double min_block_ms = 20;
  int min_iters = 2;
  std::vector<std::string> ops = {"all_reduce", "all_gather", "reduce_scatter", "all_to_all"};
  std::string out;
  int threads = 1;
  bool check = true;
};

const std::vector<std::string> kOps = {"all_reduce", "all_gather", "reduce_scatter", "all_to_all"};

// One measured path of one (op, size): a callable doing one collective.
struct Path {
  std::string name;
  std::function<void()> run;
};

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Max over ranks of `value`, through the collective layer (works on every backend).
double max_over_ranks(double value, const comm::Group& g) {
  auto t = at::full({1}, value, at::kDouble);
  return comm::all_reduce(t, comm::ReduceOp::Max, g).item<double>();
}

// Seconds per iteration of a block of `iters` calls, max over ranks.
double time_block(const Path& path, int64_t iters, const comm::Group& g) {
  comm::barrier(g);
  const auto start = Clock::now();
  for (int64_t i = 0; i < iters; ++i) path.run();
  return max_over_ranks(seconds_since(start) / static_cast<double>(iters), g);
}

// Iterations per block so that one block lasts at least min_block_ms (same on every rank).
int64_t calibrate(const Path& path, const Options& options, const comm::Group& g) {
  path.run();  // warm-up: first touch of the buffers, MPI/Gloo connection set-up
  path.run();
  int64_t iters = 1;
  for (;;) {
    const double per_iter = time_block(path, iters, g);
    const double block_ms = per_iter * static_cast<double>(iters) * 1e3;
    if (block_ms >= options.min_block_ms / 4 || iters >= (1 << 20)) {
      const double wanted = std::ceil(options.min_block_ms / (per_iter * 1e3));
      return std::max<int64_t>(options.min_iters, static_cast<int64_t>(wanted));
    }
    iters *= 4;
  }
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// nccl-tests "size" and bus-bandwidth factor for an op with per-rank input `bytes`.
int64_t nccl_bytes(const std::string& op, int64_t bytes, int n) {
  return op == "all_gather" ? bytes * n : bytes;
}
double bus_factor(const std::string& op, int n) {
  return op == "all_reduce" ? 2.0 * (n - 1) / n : static_cast<double>(n - 1) / n;
}

// Rank r's input: small integers, so every sum is exact and results compare with equal().
at::Tensor input_of(int rank, int64_t numel) {
  return at::arange(numel, at::kFloat).remainder(7).add(rank);
}

// What rank `rank` must get from `op`, computed locally from every rank's input.
at::Tensor expected(const std::string& op, int rank, int n, int64_t numel) {
  std::vector<at::Tensor> inputs;
  for (int r = 0; r < n; ++r) inputs.push_back(input_of(r, numel));
  if (op == "all_reduce") return at::stack(inputs).sum(0);
  if (op == "all_gather") return at::cat(inputs);
  if (op == "reduce_scatter") return at::stack(inputs).sum(0).chunk(n)[rank];
  std::vector<at::Tensor> pieces;  // all_to_all: chunk `rank` of every rank, in rank order
  for (const auto& x : inputs) pieces.push_back(x.chunk(n)[rank]);
  return at::cat(pieces);
}

at::Tensor run_dtensor(const std::string& op, const at::Tensor& x, const comm::Group& g) {
  if (op == "all_reduce") return comm::all_reduce(x, comm::ReduceOp::Sum, g);
  if (op == "all_gather") return comm::all_gather(x, 0, g);
  if (op == "reduce_scatter") return comm::reduce_scatter(x, 0, comm::ReduceOp::Sum, g);
  return comm::all_to_all(x, 0, 0, g);
}

int64_t output_numel(const std::string& op, int64_t numel, int n) {
  if (op == "all_gather") return numel * n;
  if (op == "reduce_scatter") return numel / n;
  return numel;
}

void check_mpi(int code, const char* call) {
  if (code != MPI_SUCCESS) {
    std::fprintf(stderr, "bench_collectives: %s failed (%d)\n", call, code);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
}

// The raw blocking MPI equivalent of `op`, float32 on MPI_COMM_WORLD.
void run_raw_mpi(const std::string& op, const at::Tensor& x, at::Tensor& out, int n) {
  const int count = static_cast<int>(x.numel());
  void* send = x.data_ptr();
  void* recv = out.data_ptr();
  if (op == "all_reduce") {
    check_mpi(MPI_Allreduce(send, recv, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD),
              "MPI_Allreduce");
  } else if (op == "all_gather") {
    check_mpi(MPI_Allgather(send, count, MPI_FLOAT, recv, count, MPI_FLOAT, MPI_COMM_WORLD),
              "MPI_Allgather");
  } else if (op == "reduce_scatter") {
    check_mpi(MPI_Reduce_scatter_block(send, recv, count / n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD),
              "MPI_Reduce_scatter_block");
  } else {
    check_mpi(MPI_Alltoall(send, count / n, MPI_FLOAT, recv, count / n, MPI_FLOAT, MPI_COMM_WORLD),
              "MPI_Alltoall");
  }
}

std::string read_cpu_model() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      return colon == std::string::npos ? line : line.substr(colon + 2);
    }
  }
  return "unknown";
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return text;
}

std::string human_bytes(int64_t bytes) {
  if (bytes >= (1 << 20)) return std::to_string(bytes >> 20) + " MiB";
  if (bytes >= (1 << 10)) return std::to_string(bytes >> 10) + " KiB";
  return std::to_string(bytes) + " B";
}

int run(const Options& options) {
  at::set_num_threads(options.threads);
  dtensor::init_process_group();
  const auto g = dtensor::world_group();
  const int rank = dtensor::get_rank();
  const int n = dtensor::get_world_size();
  const std::string backend = dtensor::get_backend();
  const bool mpi = backend == "mpi";

  json results = json::array();
  int failures = 0;
  for (const std::string& op : options.ops) {
    for (int64_t bytes = options.min_bytes; bytes <= options.max_bytes; bytes *= 4) {
      // Whole elements, divisible by the group size (reduce_scatter and all_to_all split dim 0).
      const int64_t numel = std::max<int64_t>(n, bytes / 4 / n * n);
      const int64_t real_bytes = numel * 4;
      const at::Tensor x = input_of(rank, numel);
      at::Tensor out = at::empty({output_numel(op, numel, n)}, at::kFloat);
      out.zero_();  // first touch outside the timing, as a reused buffer would be

      if (options.check) {
        const at::Tensor want = expected(op, rank, n, numel);
        bool ok = run_dtensor(op, x, g).equal(want);
        if (mpi) {
          run_raw_mpi(op, x, out, n);
          ok = ok && out.equal(want);
        }
        // Every rank learns whether any failed, so all stop or go on together.
        const bool all_ok = max_over_ranks(ok ? 0.0 : 1.0, g) == 0.0;
        if (!ok) {
          std::fprintf(stderr, "[rank %d] %s of %s: wrong result\n", rank, op.c_str(),
                       human_bytes(real_bytes).c_str());
        }
        if (!all_ok) {
          ++failures;
          continue;
        }
      }

      std::vector<Path> paths;
      paths.push_back({"dtensor", [&] { (void)run_dtensor(op, x, g); }});
      if (mpi) {
        paths.push_back({"raw_mpi", [&] { run_raw_mpi(op, x, out, n); }});
        paths.push_back({"raw_mpi_alloc", [&] {
                           at::Tensor fresh = at::empty({output_numel(op, numel, n)}, at::kFloat);
                           run_raw_mpi(op, x, fresh, n);
                         }});
      }
      const int64_t iters = calibrate(paths[0], options, g);
      for (size_t p = 1; p < paths.size(); ++p) {  // warm-up of the other paths
        paths[p].run();
        paths[p].run();
      }

      std::map<std::string, std::vector<double>> samples;
      for (int rep = 0; rep < options.repeats; ++rep) {
        // Alternate the order so drift and noise hit every path alike.
        std::vector<size_t> order(paths.size());
        for (size_t p = 0; p < paths.size(); ++p) order[p] = rep % 2 == 0 ? p : paths.size() - 1 - p;
        for (size_t p : order) samples[paths[p].name].push_back(time_block(paths[p], iters, g));
      }

      std::map<std::string, double> medians;
      for (const auto& path : paths) medians[path.name] = median(samples[path.name]);
      for (const auto& path : paths) {
        const double seconds = medians[path.name];
        const double algbw = static_cast<double>(nccl_bytes(op, real_bytes, n)) / seconds / 1e9;
        json record = {
            {"op", op},
            {"bytes", real_bytes},
            {"nccl_bytes", nccl_bytes(op, real_bytes, n)},
            {"path", path.name},
            {"backend", backend},
            {"iters_per_repeat", iters},
            {"median_us", seconds * 1e6},
            {"algbw_GBps", algbw},
            {"busbw_GBps", algbw * bus_factor(op, n)},
        };
        json repeats = json::array();
        for (double s : samples[path.name]) repeats.push_back(s * 1e6);
        record["repeats_us"] = repeats;
        if (mpi && path.name == "dtensor") {
          record["ratio_vs_raw_mpi"] = seconds / medians["raw_mpi"];
          record["ratio_vs_raw_mpi_alloc"] = seconds / medians["raw_mpi_alloc"];
        }
        results.push_back(record);
      }
      if (rank == 0) {  // progress and a readable summary on stderr; stdout is JSON only
        std::fprintf(stderr, "%-15s %8s  iters %6lld", op.c_str(), human_bytes(real_bytes).c_str(),
                     static_cast<long long>(iters));
        for (const auto& path : paths) {
          std::fprintf(stderr, "  %s %10.1f us", path.name.c_str(), medians[path.name] * 1e6);
        }
        if (mpi) std::fprintf(stderr, "  ratio %.3f", medians["dtensor"] / medians["raw_mpi"]);
        std::fprintf(stderr, "\n");
      }
    }
  }

  if (rank == 0) {
    char host[256] = {};
    gethostname(host, sizeof(host) - 1);
    json report = {
        {"bench", "collectives"},
        {"backend", backend},
        {"world_size", n},
        {"dtype", "float32"},
        {"size_convention",
         "bytes = per-rank input of the op; all_gather output is world_size*bytes, "
         "reduce_scatter output bytes/world_size"},
        {"bandwidth_convention",
         "nccl-tests: algbw = nccl_bytes/time (nccl_bytes = bytes, all_gather: world_size*bytes); "
         "busbw = algbw*2(n-1)/n (all_reduce), algbw*(n-1)/n (others); GB = 1e9 bytes"},
        {"timing",
         "per repeat: barrier, iters_per_repeat back-to-back calls, elapsed/iters, max over ranks; "
         "median over repeats; path order alternates between repeats"},
        {"repeats", options.repeats},
        {"min_block_ms", options.min_block_ms},
        {"intra_op_threads", options.threads},
        {"host", host},
        {"nproc", static_cast<int>(std::thread::hardware_concurrency())},
        {"cpu", read_cpu_model()},
        {"date", utc_now()},
        {"results", results},
    };
    const std::string text = report.dump(2);
    if (options.out.empty()) {
      std::cout << text << std::endl;
    } else {
      std::ofstream file(options.out);
      file << text << '\n';
      if (!file) {
        std::fprintf(stderr, "bench_collectives: cannot write %s\n", options.out.c_str());
        failures++;
      }
    }
  }
  dtensor::destroy_process_group();
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  CLI::App app{"Latency and bus bandwidth of dtensor's collectives (and raw MPI under mpirun)"};
  app.add_option("--min-bytes", options.min_bytes, "smallest per-rank input in bytes (default 1 KiB)")
      ->check(CLI::Range(int64_t{4}, int64_t{1} << 30));
  app.add_option("--max-bytes", options.max_bytes, "largest per-rank input in bytes (default 64 MiB)")
      ->check(CLI::Range(int64_t{4}, int64_t{1} << 30));
  app.add_option("--repeats", options.repeats, "timed blocks per (op, size, path); median reported")
      ->check(CLI::PositiveNumber);
  app.add_option("--ops", options.ops, "subset of " + CLI::detail::join(kOps, ", "))
      ->check(CLI::IsMember(kOps))
      ->delimiter(',');
  app.add_option("--out", options.out, "write the JSON here instead of stdout");
  app.add_option("--min-block-ms", options.min_block_ms, "minimum duration of a timed block")
      ->check(CLI::PositiveNumber);
  app.add_option("--min-iters", options.min_iters, "minimum iterations per timed block")
      ->check(CLI::PositiveNumber);
  app.add_option("--threads", options.threads, "ATen intra-op threads per rank (default 1)")
      ->check(CLI::PositiveNumber);
  app.add_flag("!--no-check", options.check, "skip the result check before timing");
  CLI11_PARSE(app, argc, argv);
  if (options.min_bytes > options.max_bytes) {
    std::fprintf(stderr, "--min-bytes must not exceed --max-bytes\n");
    return 2;
  }
  try {
    return run(options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_collectives: %s\n", e.what());
    return 1;
  }
}
