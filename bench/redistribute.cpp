// DTensor::redistribute against the raw collective of the same bytes, as JSON on stdout (rank 0);
// a readable summary goes to stderr. Target (bench/README.md, "Redistribution"): bw_ratio >= 0.9
// at 1 MiB and above.
//
// Built by bench/CMakeLists.txt (`ninja -C <build> bench_redistribute`). Run on 2 ranks:
//
//   cd <build>
//   tools/dtensor-run --nproc-per-node 2 --no-prefix bench/bench_redistribute    # Gloo
//   mpirun --oversubscribe -np 2 bench/bench_redistribute                        # MPI
// (as root, mpirun also needs OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 in the
// environment).
//
// Transitions on a 1-D mesh of all ranks, each against the dtensor::comm collective it issues,
// called directly on the same local tensor (the floor for the DTensor path):
//   S(0)->R     all_gather(dim 0)
//   P->R        all_reduce(sum)
//   P->S(0)     reduce_scatter(dim 0, sum)
//   S(0)->S(1)  all_to_all(split 1, concat 0)
// `bytes` is the per-rank float32 INPUT (the local shard before redistribution), a [rows, 32 n]
// tensor with rows divisible by n so every shard is even and no padding is involved: the two
// paths move exactly the same bytes. Sizes go from --min-bytes to --max-bytes by factors of 4.
// Both paths must produce equal local tensors (checked once per case; a mismatch fails the run).
//
// bw_ratio = raw median / redistribute median: the bandwidth of redistribute relative to the raw
// collective (1 = no overhead); bw_ratio_paired = median over repeats of the same ratio within a
// repeat. Timing: wall clock, see bench/timing.h. The defaults favour many short samples (blocks
// of >= 2 ms, a single call from 256 KiB or so up) over a few long ones: on a shared machine a
// collective's time is mostly the scheduler's, and a median needs many samples to see past it.
// --max-case-seconds caps the repeats of the slow (large) cases. overhead_us = median over repeats
// of redistribute - raw per call. --clock cpu times this thread's CPU instead of wall time: with Gloo, whose collectives
// run on its own threads, overhead_us is then the work the DTensor layer adds around the
// collective, free of the scheduler noise that wall-clock ratios carry.
#include <cstdio>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <dtensor/dtensor.h>

#include "timing.h"

namespace {

namespace comm = dtensor::comm;
using dtensor::DTensor;
using dtensor::Placements;
using json = nlohmann::json;

struct Options {
  int64_t min_bytes = 1024;
  int64_t max_bytes = 64 << 20;
  int threads = 1;
  bench::Timing timing{/*repeats=*/41, /*min_block_ms=*/2, /*min_iters=*/1, bench::Clock::Wall,
                       /*max_case_seconds=*/6};
};

struct Transition {
  std::string name, collective;
  Placements from, to;
  std::function<at::Tensor(const at::Tensor&, const comm::Group&)> raw;
};

std::vector<Transition> transitions() {
  using dtensor::Partial;
  using dtensor::Replicate;
  using dtensor::Shard;
  return {
      {"S(0)->R", "all_gather", {Shard(0)}, {Replicate{}},
       [](const at::Tensor& x, const comm::Group& g) { return comm::all_gather(x, 0, g); }},
      {"P->R", "all_reduce", {Partial{}}, {Replicate{}},
       [](const at::Tensor& x, const comm::Group& g) { return comm::all_reduce(x, comm::ReduceOp::Sum, g); }},
      {"P->S(0)", "reduce_scatter", {Partial{}}, {Shard(0)},
       [](const at::Tensor& x, const comm::Group& g) {
         return comm::reduce_scatter(x, 0, comm::ReduceOp::Sum, g);
       }},
      {"S(0)->S(1)", "all_to_all", {Shard(0)}, {Shard(1)},
       [](const at::Tensor& x, const comm::Group& g) { return comm::all_to_all(x, 1, 0, g); }},
  };
}

std::string human_bytes(int64_t bytes) {
  if (bytes >= (1 << 20)) return std::to_string(bytes >> 20) + " MiB";
  if (bytes >= (1 << 10)) return std::to_string(bytes >> 10) + " KiB";
  return std::to_string(bytes) + " B";
}

int run(const Options& options) {
  at::set_num_threads(options.threads);
  dtensor::init_process_group();
  const int n = dtensor::get_world_size();
  const int rank = dtensor::get_rank();
  TORCH_CHECK_VALUE(n > 1, "bench_redistribute needs at least 2 ranks (got a world of ", n,
                    "); start it with dtensor-run --nproc-per-node 2 or mpirun -np 2");
  auto mesh = dtensor::init_device_mesh("cpu", {n});
  const auto g = mesh.get_group(0);
  int failures = 0;
  json results = json::array();
  for (const auto& t : transitions()) {
    for (int64_t bytes = options.min_bytes; bytes <= options.max_bytes; bytes *= 4) {
      const int64_t cols = 32 * n;
      const int64_t rows = std::max<int64_t>(n, bytes / 4 / cols / n * n);
      const int64_t real_bytes = rows * cols * 4;
      auto local = at::arange(rows * cols, at::kFloat).remainder(7).add(rank).view({rows, cols});
      auto global = local.sizes().vec();
      if (t.from[0].is_shard()) global[0] *= n;
      auto x = DTensor::from_local(local, mesh, t.from,
                                   {false, global, dtensor::contiguous_strides(global)});
      // Same values on both paths, or the comparison means nothing.
      const bool same = x.redistribute(t.to).local_tensor().equal(t.raw(local, g));
      if (bench::max_over_ranks(same ? 0.0 : 1.0, g) != 0.0) {
        if (rank == 0)
          std::fprintf(stderr, "%s of %s: redistribute differs from %s\n", t.name.c_str(),
                       human_bytes(real_bytes).c_str(), t.collective.c_str());
        ++failures;
        continue;
      }
      const auto m = bench::measure_pair([&] { (void)x.redistribute(t.to); },
                                         [&] { (void)t.raw(local, g); }, options.timing, g);
      results.push_back({{"transition", t.name},
                         {"collective", t.collective},
                         {"bytes", real_bytes},
                         {"iters", m.iters},
                         {"repeats", m.repeats},
                         {"redistribute_us", m.a * 1e6},
                         {"raw_us", m.b * 1e6},
                         {"bw_ratio", m.b / m.a},
                         {"bw_ratio_paired", m.ratio},
                         {"overhead_us", -m.diff * 1e6}});
      if (rank == 0)
        std::fprintf(stderr,
                     "%-11s %-15s %8s  redistribute %10.1f us  raw %10.1f us  bw ratio %.3f (paired %.3f)  "
                     "overhead %7.1f us\n",
                     t.name.c_str(), t.collective.c_str(), human_bytes(real_bytes).c_str(), m.a * 1e6,
                     m.b * 1e6, m.b / m.a, m.ratio, -m.diff * 1e6);
    }
  }
  if (rank == 0) {
    json report = {{"bench", "redistribute"},
                   {"backend", dtensor::get_backend()},
                   {"world_size", n},
                   {"clock", bench::clock_name(options.timing.clock)},
                   {"max_repeats", options.timing.repeats},
                   {"max_case_seconds", options.timing.max_case_seconds},
                   {"min_block_ms", options.timing.min_block_ms},
                   {"intra_op_threads", options.threads},
                   {"results", results}};
    std::cout << report.dump(2) << std::endl;
  }
  dtensor::destroy_process_group();
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  CLI::App app{"DTensor::redistribute against the raw collective of the same bytes"};
  app.add_option("--min-bytes", options.min_bytes, "smallest local shard in bytes (default 1 KiB)")
      ->check(CLI::Range(int64_t{4}, int64_t{1} << 30));
  app.add_option("--max-bytes", options.max_bytes, "largest local shard in bytes (default 64 MiB)")
      ->check(CLI::Range(int64_t{4}, int64_t{1} << 30));
  app.add_option("--repeats", options.timing.repeats,
                 "timed blocks per path, at most; median reported (default 41)")
      ->check(CLI::PositiveNumber);
  app.add_option("--min-block-ms", options.timing.min_block_ms, "minimum duration of a timed block (default 2)")
      ->check(CLI::PositiveNumber);
  app.add_option("--min-iters", options.timing.min_iters, "minimum calls per timed block (default 1)")
      ->check(CLI::PositiveNumber);
  app.add_option("--max-case-seconds", options.timing.max_case_seconds,
                 "fewer repeats (not below 5) for cases whose pair of paths would take longer (default 6; "
                 "0: always --repeats)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--threads", options.threads, "ATen intra-op threads per rank (default 1)")
      ->check(CLI::PositiveNumber);
  std::string clock = "wall";
  app.add_option("--clock", clock, "wall (default) or cpu (this thread's CPU time)")
      ->check(CLI::IsMember({"wall", "cpu"}));
  CLI11_PARSE(app, argc, argv);
  options.timing.clock = clock == "cpu" ? bench::Clock::ThreadCpu : bench::Clock::Wall;
  try {
    return run(options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_redistribute: %s\n", e.what());
    return 1;
  }
}
