// Collective latency and bus bandwidth on the world group: JSON on stdout, a table on stderr
// (rank 0).
//
//   mpirun -np 2 bench_collectives                                        # our MPI path + raw MPI
//   dtensor-run --nproc-per-node 2 --no-prefix bench_collectives          # our Gloo path
//
// Paths measured for every (op, size), float32, dim 0:
//   dtensor        the forms that write into a caller-owned, reused output: comm::all_reduce_ (in
//                  place), all_gather_into_tensor, reduce_scatter_tensor, all_to_all_single;
//   raw_mpi        (MPI only) the blocking MPI call on MPI_COMM_WORLD into the same preallocated
//                  output: MPI_Allreduce (MPI_IN_PLACE, as all_reduce_), MPI_Allgather,
//                  MPI_Reduce_scatter_block, MPI_Alltoall. The ceiling for `dtensor`;
//   dtensor_alloc  the allocating forms comm::all_reduce, all_gather, reduce_scatter, all_to_all,
//                  which return a new tensor per call;
//   raw_mpi_alloc  (MPI only) the raw MPI call into an output allocated with at::empty on every
//                  call and dropped afterwards (all_reduce out of place). The like-for-like
//                  baseline for `dtensor_alloc`.
// Comparisons: dtensor vs raw_mpi (target: ratio <= --target, 1.10 by default) and dtensor_alloc
// vs raw_mpi_alloc on MPI; dtensor_alloc vs dtensor (the cost of allocating) on Gloo.
//
// Size convention: `bytes` is the per-rank float32 INPUT of the operation (all_gather's output is
// world_size x bytes, reduce_scatter's output bytes / world_size). Bandwidths follow nccl-tests:
// algbw = nccl_bytes / time with nccl_bytes the nccl-tests "size" (all_reduce, reduce_scatter and
// all_to_all: the per-rank input = bytes; all_gather: the gathered output = world_size x bytes),
// busbw = algbw x 2(n-1)/n for all_reduce and x (n-1)/n for the others.
//
// Timing. The two paths of a comparison run interleaved: a block is a barrier, then `iters` rounds
// of one call of each path (which goes first alternates from round to round), every call timed on
// its own (consecutive clock reads, the clock's own cost subtracted). A path's block figure is its
// median call, max over ranks. Both choices are for a shared machine: when another process
// deschedules one rank, the peer's call in flight waits for it, up to a scheduler time slice (a
// thousand times a small collective); that moves a mean (reported too, mean_us) by tens of
// percent, but not the median call, and interleaving exposes both paths to the same load at the
// same moments, which pairing whole blocks does not. `iters` is calibrated per comparison on the
// best of three blocks: a block lasts at least --min-block-ms (thousands of rounds at 1 KiB on
// MPI) and has at least --min-iters rounds (so that the median call means something at 64 MiB).
// Blocks repeat --repeats times. A path's figure is the median over repeats; a comparison's ratio
// is the median over repeats of the within-block ratio, and its interquartile range says how
// noisy the run was.
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
  double min_block_ms = 10;
  int min_iters = 10;
  double target = 1.10;
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

// `path` measured against `baseline` (indices into the path list): ratio = path / baseline.
struct Comparison {
  size_t baseline;
  size_t path;
  bool judged;  // held to --target
};

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Max over ranks of each value, through the collective layer (works on every backend).
std::vector<double> max_over_ranks(const std::vector<double>& values, const comm::Group& g) {
  auto t = at::tensor(values, at::kDouble);
  auto max = comm::all_reduce(t, comm::ReduceOp::Max, g);
  return {max.data_ptr<double>(), max.data_ptr<double>() + max.numel()};
}
double max_over_ranks(double value, const comm::Group& g) {
  return max_over_ranks(std::vector<double>{value}, g)[0];
}

// The interval between two steady_clock reads in the timing loop below with nothing in between:
// subtracted from every timed call. Median of many, so a preemption cannot inflate it.
double clock_overhead() {
  std::vector<double> gaps(100000);
  auto last = Clock::now();
  for (double& gap : gaps) {
    const auto now = Clock::now();
    gap = seconds(now - last);
    last = now;
  }
  std::nth_element(gaps.begin(), gaps.begin() + gaps.size() / 2, gaps.end());
  return gaps[gaps.size() / 2];
}

// Seconds per call of one path in one block, each the max over ranks.
struct BlockTime {
  double median;  // the median call: robust to the calls that wait for a descheduled peer
  double mean;    // elapsed / calls: includes them
};

struct PairTime {
  BlockTime baseline, path;
};

// Median and mean of `calls`, which it reorders.
std::pair<double, double> median_and_mean(std::vector<double>& calls) {
  double sum = 0;
  for (double c : calls) sum += c;
  std::nth_element(calls.begin(), calls.begin() + calls.size() / 2, calls.end());
  return {calls[calls.size() / 2], sum / static_cast<double>(calls.size())};
}

// One block of a comparison: barrier, then `iters` rounds of one call of each path, the order
// alternating from round to round, every call timed (consecutive clock reads, the clock's own
// cost subtracted). Interleaved calls see the same load at the same moments, which no pairing of
// whole blocks achieves on a shared machine. `a` and `b` are scratch space, allocated outside the
// timed loop.
PairTime time_pair(const Path& baseline, const Path& path, int64_t iters, double clock_cost,
                   std::vector<double>& a, std::vector<double>& b, const comm::Group& g) {
  a.resize(iters);
  b.resize(iters);
  comm::barrier(g);
  auto last = Clock::now();
  for (int64_t i = 0; i < iters; ++i) {
    const bool baseline_first = i % 2 == 0;
    (baseline_first ? baseline : path).run();
    const auto middle = Clock::now();
    (baseline_first ? path : baseline).run();
    const auto now = Clock::now();
    (baseline_first ? a : b)[i] = seconds(middle - last) - clock_cost;
    (baseline_first ? b : a)[i] = seconds(now - middle) - clock_cost;
    last = now;
  }
  const auto [a_median, a_mean] = median_and_mean(a);
  const auto [b_median, b_mean] = median_and_mean(b);
  const auto max = max_over_ranks(std::vector<double>{a_median, a_mean, b_median, b_mean}, g);
  return {{max[0], max[1]}, {max[2], max[3]}};
}

// Rounds per block of a comparison (same on every rank, since time_pair returns maxima over
// ranks): a block lasts at least min_block_ms and has at least --min-iters rounds. The estimate
// is the best of three blocks, so one preempted block cannot shrink it.
int64_t calibrate(const Path& baseline, const Path& path, double clock_cost,
                  const Options& options, const comm::Group& g) {
  std::vector<double> a, b;
  auto per_round = [&](int64_t iters) {
    const PairTime t = time_pair(baseline, path, iters, clock_cost, a, b, g);
    return t.baseline.mean + t.path.mean;
  };
  int64_t iters = 1;
  double round = per_round(iters);
  while (round * static_cast<double>(iters) * 1e3 < options.min_block_ms / 4 && iters < (1 << 22)) {
    iters *= 4;
    round = per_round(iters);
  }
  for (int trial = 0; trial < 2; ++trial) round = std::min(round, per_round(iters));
  const auto wanted =
      static_cast<int64_t>(std::ceil(options.min_block_ms / (std::max(round, 1e-9) * 1e3)));
  return std::max(static_cast<int64_t>(options.min_iters), wanted);
}

// q in [0, 1], linear interpolation between order statistics.
double quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const double position = q * static_cast<double>(v.size() - 1);
  const size_t low = static_cast<size_t>(std::floor(position));
  const size_t high = std::min(low + 1, v.size() - 1);
  return v[low] + (position - static_cast<double>(low)) * (v[high] - v[low]);
}
double median(const std::vector<double>& v) { return quantile(v, 0.5); }

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

enum class Op { AllReduce, AllGather, ReduceScatter, AllToAll };

Op parse_op(const std::string& op) {
  if (op == "all_reduce") return Op::AllReduce;
  if (op == "all_gather") return Op::AllGather;
  if (op == "reduce_scatter") return Op::ReduceScatter;
  return Op::AllToAll;
}

// The allocating form.
at::Tensor run_dtensor_alloc(Op op, const at::Tensor& x, const comm::Group& g) {
  switch (op) {
    case Op::AllReduce: return comm::all_reduce(x, comm::ReduceOp::Sum, g);
    case Op::AllGather: return comm::all_gather(x, 0, g);
    case Op::ReduceScatter: return comm::reduce_scatter(x, 0, comm::ReduceOp::Sum, g);
    default: return comm::all_to_all(x, 0, 0, g);
  }
}

// The form writing into `out`; all_reduce_ reduces `out` itself in place (`x` unused).
void run_dtensor(Op op, const at::Tensor& x, const at::Tensor& out, const comm::Group& g) {
  switch (op) {
    case Op::AllReduce: return comm::all_reduce_(out, comm::ReduceOp::Sum, g);
    case Op::AllGather: return comm::all_gather_into_tensor(out, x, g);
    case Op::ReduceScatter: return comm::reduce_scatter_tensor(out, x, comm::ReduceOp::Sum, g);
    default: return comm::all_to_all_single(out, x, g);
  }
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

// The raw blocking MPI equivalent of `op`, float32 on MPI_COMM_WORLD. `in_place` (all_reduce
// only): reduce `out` itself, as all_reduce_ does.
void run_raw_mpi(Op op, const at::Tensor& x, const at::Tensor& out, int n, bool in_place) {
  const int count = static_cast<int>(x.numel());
  const void* send = in_place ? MPI_IN_PLACE : x.data_ptr();
  void* recv = out.data_ptr();
  switch (op) {
    case Op::AllReduce:
      return check_mpi(MPI_Allreduce(send, recv, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD),
                       "MPI_Allreduce");
    case Op::AllGather:
      return check_mpi(
          MPI_Allgather(send, count, MPI_FLOAT, recv, count, MPI_FLOAT, MPI_COMM_WORLD),
          "MPI_Allgather");
    case Op::ReduceScatter:
      return check_mpi(
          MPI_Reduce_scatter_block(send, recv, count / n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD),
          "MPI_Reduce_scatter_block");
    default:
      return check_mpi(
          MPI_Alltoall(send, count / n, MPI_FLOAT, recv, count / n, MPI_FLOAT, MPI_COMM_WORLD),
          "MPI_Alltoall");
  }
}

// Every path's result against the locally computed one; true when all ranks agree all are right.
bool check_results(const std::string& op, const at::Tensor& x, int rank, int n, bool mpi,
                   const comm::Group& g) {
  const int64_t numel = x.numel();
  const at::Tensor want = expected(op, rank, n, numel);
  std::map<std::string, at::Tensor> got;
  const Op kind = parse_op(op);
  got["dtensor_alloc"] = run_dtensor_alloc(kind, x, g);
  at::Tensor out = kind == Op::AllReduce ? x.clone() : at::empty({output_numel(op, numel, n)});
  run_dtensor(kind, x, out, g);
  got["dtensor"] = out;
  if (mpi) {
    at::Tensor raw = kind == Op::AllReduce ? x.clone() : at::empty({output_numel(op, numel, n)});
    run_raw_mpi(kind, x, raw, n, kind == Op::AllReduce);
    got["raw_mpi"] = raw;
  }
  bool ok = true;
  for (const auto& [path, result] : got) {
    if (!result.view({-1}).equal(want)) {
      std::fprintf(stderr, "[rank %d] %s, %s of %lld elements: wrong result\n", rank, path.c_str(),
                   op.c_str(), static_cast<long long>(numel));
      ok = false;
    }
  }
  // Every rank learns whether any failed, so all stop or go on together.
  return max_over_ranks(ok ? 0.0 : 1.0, g) == 0.0;
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

// The 1-minute load average: how busy the (possibly shared) machine was.
double load_average() {
  std::ifstream file("/proc/loadavg");
  double load = -1;
  file >> load;
  return load;
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

void print_header(bool mpi, const Options& options) {
  if (mpi) {
    const std::string target = "<=" + std::to_string(options.target).substr(0, 4);
    std::fprintf(stderr, "%-14s %7s %6s | %-49s | %s\n", "", "", "",
                 "into a reused output: dtensor vs raw_mpi",
                 "allocating: dtensor_alloc vs raw_mpi_alloc");
    std::fprintf(stderr, "%-14s %7s %6s | %9s %9s %6s %6s %-6s %5s | %9s %9s %6s %6s\n", "op",
                 "size", "iters", "us", "raw us", "ratio", "+-iqr", target.c_str(), "busbw", "us",
                 "raw us", "ratio", "+-iqr");
  } else {
    std::fprintf(stderr, "%-14s %7s %6s | %9s %6s | %9s %6s %6s %6s\n", "op", "size", "iters",
                 "into us", "busbw", "alloc us", "busbw", "ratio", "+-iqr");
  }
}

int run(const Options& options) {
  at::set_num_threads(options.threads);
  dtensor::init_process_group();
  const auto g = dtensor::world_group();
  const int rank = dtensor::get_rank();
  const int n = dtensor::get_world_size();
  const std::string backend = dtensor::get_backend();
  const bool mpi = backend == "mpi";
  const double load_start = load_average();
  const double clock_cost = max_over_ranks(clock_overhead(), g);

  json results = json::array();
  json misses = json::array();  // judged comparisons above the target
  int judged = 0;
  int failures = 0;
  if (rank == 0) print_header(mpi, options);
  for (const std::string& op : options.ops) {
    for (int64_t bytes = options.min_bytes; bytes <= options.max_bytes; bytes *= 4) {
      // Whole elements, divisible by the group size (reduce_scatter and all_to_all split dim 0).
      const int64_t numel = std::max<int64_t>(n, bytes / 4 / n * n);
      const int64_t real_bytes = numel * 4;
      const int64_t out_numel = output_numel(op, numel, n);
      const at::Tensor x = input_of(rank, numel);

      if (options.check && !check_results(op, x, rank, n, mpi, g)) {
        ++failures;
        continue;
      }
      // The reused output, touched once outside the timing. all_reduce_ and its raw twin reduce
      // it in place: zeros stay zeros, so the values never overflow.
      const at::Tensor out = at::zeros({out_numel});

      // Resolved once: the timed calls must not compare strings.
      const Op kind = parse_op(op);
      std::vector<Path> paths;
      std::vector<Comparison> comparisons;
      if (mpi) {
        paths.push_back({"raw_mpi", [&] { run_raw_mpi(kind, x, out, n, kind == Op::AllReduce); }});
        paths.push_back({"dtensor", [&] { run_dtensor(kind, x, out, g); }});
        paths.push_back({"raw_mpi_alloc", [&] {
                           run_raw_mpi(kind, x, at::empty({out_numel}, at::kFloat), n, false);
                         }});
        paths.push_back({"dtensor_alloc", [&] { (void)run_dtensor_alloc(kind, x, g); }});
        comparisons = {{0, 1, true}, {2, 3, false}};
      } else {
        paths.push_back({"dtensor", [&] { run_dtensor(kind, x, out, g); }});
        paths.push_back({"dtensor_alloc", [&] { (void)run_dtensor_alloc(kind, x, g); }});
        comparisons = {{0, 1, false}};
      }
      for (const Path& path : paths) {  // warm-up: first touch, connection set-up, allocator
        path.run();
        path.run();
      }
      std::vector<int64_t> iters(paths.size());
      for (const Comparison& c : comparisons) {
        iters[c.baseline] = iters[c.path] =
            calibrate(paths[c.baseline], paths[c.path], clock_cost, options, g);
      }

      std::vector<std::vector<double>> samples(paths.size());  // block medians per repeat
      std::vector<std::vector<double>> means(paths.size());    // block means per repeat
      std::vector<double> a, b;
      for (int rep = 0; rep < options.repeats; ++rep) {
        for (const Comparison& c : comparisons) {
          const PairTime t = time_pair(paths[c.baseline], paths[c.path], iters[c.baseline],
                                       clock_cost, a, b, g);
          samples[c.baseline].push_back(t.baseline.median);
          means[c.baseline].push_back(t.baseline.mean);
          samples[c.path].push_back(t.path.median);
          means[c.path].push_back(t.path.mean);
        }
      }

      std::vector<double> medians;
      for (const auto& s : samples) medians.push_back(median(s));
      std::vector<json> records;
      for (size_t p = 0; p < paths.size(); ++p) {
        const double per_call = medians[p];
        const double algbw = static_cast<double>(nccl_bytes(op, real_bytes, n)) / per_call / 1e9;
        json record = {
            {"op", op},
            {"bytes", real_bytes},
            {"nccl_bytes", nccl_bytes(op, real_bytes, n)},
            {"path", paths[p].name},
            {"backend", backend},
            {"iters_per_repeat", iters[p]},
            {"median_us", per_call * 1e6},
            {"mean_us", median(means[p]) * 1e6},
            {"algbw_GBps", algbw},
            {"busbw_GBps", algbw * bus_factor(op, n)},
        };
        json repeats = json::array();
        json repeat_means = json::array();
        for (double s : samples[p]) repeats.push_back(s * 1e6);
        for (double s : means[p]) repeat_means.push_back(s * 1e6);
        record["repeats_us"] = repeats;
        record["repeats_mean_us"] = repeat_means;
        records.push_back(record);
      }
      struct Summary {
        double ratio, q1, q3;
        bool ok;
      };
      std::vector<Summary> summaries;
      for (const Comparison& c : comparisons) {
        std::vector<double> ratios;
        for (int rep = 0; rep < options.repeats; ++rep) {
          ratios.push_back(samples[c.path][rep] / samples[c.baseline][rep]);
        }
        const Summary s{median(ratios), quantile(ratios, 0.25), quantile(ratios, 0.75),
                        median(ratios) <= options.target};
        summaries.push_back(s);
        json& record = records[c.path];
        record["baseline"] = paths[c.baseline].name;
        record["ratio"] = s.ratio;
        record["ratio_iqr"] = {s.q1, s.q3};
        record["ratio_of_medians"] = medians[c.path] / medians[c.baseline];
        if (c.judged) {
          record["target_ratio"] = options.target;
          record["within_target"] = s.ok;
          ++judged;
          if (!s.ok) misses.push_back({{"op", op}, {"bytes", real_bytes}, {"ratio", s.ratio}});
        }
      }
      for (auto& record : records) results.push_back(std::move(record));

      if (rank == 0) {  // stdout is JSON only
        auto busbw = [&](size_t p) {
          return static_cast<double>(nccl_bytes(op, real_bytes, n)) * bus_factor(op, n) /
                 medians[p] / 1e9;
        };
        auto iqr = [](const Summary& s) { return (s.q3 - s.q1) / 2; };
        std::fprintf(stderr, "%-14s %7s %6lld | ", op.c_str(), human_bytes(real_bytes).c_str(),
                     static_cast<long long>(iters[0]));
        if (mpi) {
          std::fprintf(stderr, "%9.2f %9.2f %6.3f %6.3f %-6s %5.2f | %9.2f %9.2f %6.3f %6.3f\n",
                       medians[1] * 1e6, medians[0] * 1e6, summaries[0].ratio, iqr(summaries[0]),
                       summaries[0].ok ? "ok" : "MISS", busbw(1), medians[3] * 1e6,
                       medians[2] * 1e6, summaries[1].ratio, iqr(summaries[1]));
        } else {
          std::fprintf(stderr, "%9.2f %6.2f | %9.2f %6.2f %6.3f %6.3f\n", medians[0] * 1e6,
                       busbw(0), medians[1] * 1e6, busbw(1), summaries[0].ratio,
                       iqr(summaries[0]));
        }
      }
    }
  }
  const double load_end = load_average();
  if (rank == 0) {
    if (mpi) {
      std::fprintf(stderr, "dtensor vs raw_mpi: %d of %d sizes within ratio %.2f\n",
                   judged - static_cast<int>(misses.size()), judged, options.target);
    }
    std::fprintf(stderr, "load average (1 min) %.2f at start, %.2f at end, on %u cores\n",
                 load_start, load_end, std::thread::hardware_concurrency());
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
         "per repeat and comparison: barrier, iters_per_repeat rounds of one call of each path "
         "(order alternating), each call timed (clock overhead subtracted), each path's median "
         "call, max over ranks; median_us = median over repeats; mean_us = the same with the "
         "block mean; ratio = median over repeats of the within-block ratio path / baseline"},
        {"repeats", options.repeats},
        {"min_block_ms", options.min_block_ms},
        {"clock_overhead_ns", clock_cost * 1e9},
        {"target_ratio", options.target},
        {"judged", judged},
        {"misses", misses},
        {"intra_op_threads", options.threads},
        {"host", host},
        {"nproc", static_cast<int>(std::thread::hardware_concurrency())},
        {"cpu", read_cpu_model()},
        {"loadavg_start", load_start},
        {"loadavg_end", load_end},
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
  app.add_option("--min-iters", options.min_iters, "minimum rounds per timed block (default 10)")
      ->check(CLI::PositiveNumber);
  app.add_option("--target", options.target,
                 "largest acceptable dtensor / raw_mpi ratio (default 1.10)")
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
