// Paired timing shared by bench_dispatch and bench_redistribute: a DTensor path against its
// baseline, measured in the same run, in alternating blocks.
//
// A block is: barrier (multi-rank groups), `iters` back-to-back calls, elapsed / iters, then the
// MAX over ranks (a collective finishes when its slowest rank does; for local work the slowest
// rank is the honest figure). `iters` is calibrated once per pair, the larger of the two paths'
// needs, so that each block lasts at least min_block_ms. Blocks repeat `repeats` times, the order
// of the two paths alternating (neither always runs on a warmer cache or a quieter machine); each
// path's figure is the median over repeats; `ratio` and `diff` are the medians of the within-repeat
// b / a and b - a, which cancel load that drifts from one repeat to the next.
//
// Clocks: Wall (steady_clock) for anything that communicates: waiting on a peer is part of the
// cost. ThreadCpu (CLOCK_THREAD_CPUTIME_ID) for purely local work on the calling thread (with one
// intra-op thread): it equals wall time on an idle machine, but does not count the time the
// scheduler gives to other processes, which on a shared machine is most of the wall-time noise.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <functional>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include <dtensor/comm.h>

namespace bench {

enum class Clock { Wall, ThreadCpu };

inline const char* clock_name(Clock c) { return c == Clock::Wall ? "wall" : "thread_cpu"; }

struct Timing {
  int repeats = 9;
  double min_block_ms = 20;
  int64_t min_iters = 2;
  Clock clock = Clock::Wall;
  // When > 0, slow cases get fewer repeats (never fewer than kMinRepeats) so that one pair of
  // paths takes about this long: many short samples where calls are cheap, a few long ones
  // where they are not.
  double max_case_seconds = 0;
};

constexpr int kMinRepeats = 5;

inline double now_seconds(Clock c) {
  if (c == Clock::Wall)
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

inline double max_over_ranks(double value, const dtensor::comm::Group& g) {
  if (g->getSize() == 1) return value;
  auto t = at::full({1}, value, at::kDouble);
  return dtensor::comm::all_reduce(t, dtensor::comm::ReduceOp::Max, g).item<double>();
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Seconds per call of one block of `iters` calls, max over the ranks of `g`.
inline double time_block(const std::function<void()>& run, int64_t iters, const Timing& timing,
                         const dtensor::comm::Group& g) {
  if (g->getSize() > 1) dtensor::comm::barrier(g);
  const double start = now_seconds(timing.clock);
  for (int64_t i = 0; i < iters; ++i) run();
  const double per_call = (now_seconds(timing.clock) - start) / static_cast<double>(iters);
  return max_over_ranks(per_call, g);
}

struct Calibration {
  int64_t iters;    // calls per block
  double per_call;  // seconds, from the calibration block
};

// Calls per block so that a block of `run` lasts at least min_block_ms (equal on every rank,
// since time_block returns the max over ranks). Warms up first: propagation and cache fill,
// allocator pools, connection set-up.
inline Calibration calibrate(const std::function<void()>& run, const Timing& timing,
                             const dtensor::comm::Group& g) {
  run();
  run();
  for (int64_t iters = 1;; iters *= 4) {
    const double per_call = std::max(time_block(run, iters, timing, g), 1e-9);
    if (per_call * static_cast<double>(iters) * 1e3 >= timing.min_block_ms / 4 || iters >= (1 << 22)) {
      const double wanted = std::ceil(timing.min_block_ms / (per_call * 1e3));
      return {std::max<int64_t>(timing.min_iters, static_cast<int64_t>(wanted)), per_call};
    }
  }
}

struct PairResult {
  double a = 0, b = 0;  // median seconds per call
  double ratio = 0;     // median over repeats of b / a within the repeat
  double diff = 0;      // median over repeats of b - a within the repeat (seconds per call)
  int64_t iters = 0;    // calls per block
  int repeats = 0;      // blocks per path
};

inline PairResult measure_pair(const std::function<void()>& a, const std::function<void()>& b,
                               const Timing& timing, const dtensor::comm::Group& g) {
  PairResult r;
  const Calibration ca = calibrate(a, timing, g), cb = calibrate(b, timing, g);
  r.iters = std::max(ca.iters, cb.iters);
  r.repeats = timing.repeats;
  if (timing.max_case_seconds > 0) {
    const double pair_seconds = static_cast<double>(r.iters) * (ca.per_call + cb.per_call);
    const double affordable = std::floor(timing.max_case_seconds / pair_seconds);
    r.repeats = static_cast<int>(std::clamp(affordable, static_cast<double>(std::min(kMinRepeats, timing.repeats)),
                                            static_cast<double>(timing.repeats)));
  }
  std::vector<double> ta, tb, ratios, diffs;
  for (int rep = 0; rep < r.repeats; ++rep) {
    if (rep % 2 == 0) {
      ta.push_back(time_block(a, r.iters, timing, g));
      tb.push_back(time_block(b, r.iters, timing, g));
    } else {
      tb.push_back(time_block(b, r.iters, timing, g));
      ta.push_back(time_block(a, r.iters, timing, g));
    }
    ratios.push_back(tb.back() / ta.back());
    diffs.push_back(tb.back() - ta.back());
  }
  r.a = median(ta);
  r.b = median(tb);
  r.ratio = median(ratios);
  r.diff = median(diffs);
  return r;
}

}  // namespace bench
