// Cost of the DTensor dispatch path, as JSON on stdout (rank 0); a readable summary on stderr.
// Targets (bench/README.md, "Dispatch overhead"): overhead <= 2 us per op on a cache hit for small
// shapes; AdamW over 100 DTensor parameters <= 1.3x the same step over their local tensors; 100%
// sharding-cache hits in steady-state training steps.
//
// Built by bench/CMakeLists.txt (`ninja -C <build> bench_dispatch`). Run:
//
//   cd <build>
//   bench/bench_dispatch                                                          # 1 rank
//   tools/dtensor-run --nproc-per-node 2 --no-prefix bench/bench_dispatch        # 2 ranks, Gloo
//
// Suites (--suites, default all):
//   ops     one small op on [16, 16] float DTensors against the same op on their local tensors:
//           add (Shard(0) + Shard(0)), add (Replicate + Replicate), mul by a Python-style scalar
//           (a wrapped-number operand), mul_ (in place, Shard(0)), mm (Shard(0) @ Replicate),
//           sum (Shard(0) -> Partial), view ([16, 16] -> [16, 4, 4]) and t. None communicates.
//           The DTensor op is warmed up first, so every timed call is a sharding-cache hit
//           (`cache_misses` counts any that were not). overhead_ns = median DTensor - median local;
//           overhead_paired_ns = median of that difference within each repeat.
//   adamw   torch::optim::AdamW (weight decay 0.01) step over --params DTensor parameters
//           (Shard(0), gradients set) against the same step over plain tensors of their local
//           shapes, for each of --adamw-shapes: ms per step and ratio (median and paired).
//   cache   sharding-cache hit rate over --steps steady-state training steps of a small
//           tensor-parallel block (layer norm, column- and row-parallel linears, GELU, dropout,
//           residual, backward, AdamW) after two warm-up steps: hits / (hits + misses).
//
// Timing: bench/timing.h, by default on the thread's CPU clock (--clock cpu): nothing here
// communicates inside a timed block, so CPU time is the cost, and it ignores the time other
// processes get on a shared machine. One intra-op thread unless --threads says otherwise.
#include <cstdio>
#include <functional>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/nn/functional/activation.h>
#include <torch/nn/functional/dropout.h>
#include <torch/nn/functional/linear.h>
#include <torch/nn/functional/normalization.h>
#include <torch/optim/adamw.h>

#include <dtensor/dtensor.h>

#include "timing.h"

namespace {

using dtensor::DeviceMesh;
using dtensor::Replicate;
using dtensor::Shard;
using json = nlohmann::json;

struct Options {
  int threads = 1;
  int steps = 10;
  int params = 100;
  std::vector<std::string> adamw_shapes = {"64x64", "256x1024"};
  std::vector<std::string> suites = {"ops", "adamw", "cache"};
  bench::Timing timing{/*repeats=*/15, /*min_block_ms=*/10, /*min_iters=*/1, bench::Clock::ThreadCpu};
};

int64_t cache_misses() { return dtensor::ops::sharding_cache_stats().misses; }

bool is_rank0() { return dtensor::get_rank() == 0; }

json bench_ops(const Options& options, const DeviceMesh& mesh) {
  const auto g = mesh.get_group(0);
  auto dist = [&](at::Tensor t, dtensor::Placements p) { return dtensor::distribute_tensor(t, mesh, p); };
  auto x = dist(at::randn({16, 16}), {Shard(0)}), y = dist(at::randn({16, 16}), {Shard(0)});
  auto xr = dist(at::randn({16, 16}), {Replicate()}), yr = dist(at::randn({16, 16}), {Replicate()});
  auto ones = dist(at::ones({16, 16}), {Shard(0)});
  const at::Tensor xl = x.to_local(), yl = y.to_local(), xrl = xr.to_local(), yrl = yr.to_local(),
                   onesl = ones.to_local();
  const int64_t rows = xl.size(0);
  struct Case {
    std::string op, placements;
    std::function<void()> dtensor, local;
  };
  const std::vector<Case> cases = {
      {"add", "S(0) + S(0)", [&] { auto r = x + y; }, [&] { auto r = xl + yl; }},
      {"add", "R + R", [&] { auto r = xr + yr; }, [&] { auto r = xrl + yrl; }},
      {"mul", "S(0) * scalar", [&] { auto r = x * 0.5; }, [&] { auto r = xl * 0.5; }},
      {"mul_", "S(0) *= S(0)", [&] { x.mul_(ones); }, [&] { xl.mul_(onesl); }},
      {"mm", "S(0) @ R", [&] { auto r = at::mm(x, xr); }, [&] { auto r = at::mm(xl, xrl); }},
      {"sum", "S(0) -> P", [&] { auto r = x.sum(); }, [&] { auto r = xl.sum(); }},
      {"view", "S(0)", [&] { auto r = x.view({16, 4, 4}); }, [&] { auto r = xl.view({rows, 4, 4}); }},
      {"t", "S(0) -> S(1)", [&] { auto r = x.t(); }, [&] { auto r = xl.t(); }},
  };
  json results = json::array();
  for (const auto& c : cases) {
    c.dtensor();  // propagation happens here, outside the timed blocks
    const int64_t misses_before = cache_misses();
    const auto m = bench::measure_pair(c.local, c.dtensor, options.timing, g);
    const int64_t misses = cache_misses() - misses_before;
    results.push_back({{"op", c.op},
                       {"placements", c.placements},
                       {"shape", {16, 16}},
                       {"iters", m.iters},
                       {"dtensor_ns", m.b * 1e9},
                       {"local_ns", m.a * 1e9},
                       {"overhead_ns", (m.b - m.a) * 1e9},
                       {"overhead_paired_ns", m.diff * 1e9},
                       {"cache_misses", misses}});
    if (is_rank0())
      std::fprintf(stderr, "ops   %-5s %-14s dtensor %7.0f ns  local %7.0f ns  overhead %6.0f ns (paired %6.0f)%s\n",
                   c.op.c_str(), c.placements.c_str(), m.b * 1e9, m.a * 1e9, (m.b - m.a) * 1e9, m.diff * 1e9,
                   misses == 0 ? "" : "  CACHE MISSES");
  }
  return results;
}

std::vector<int64_t> parse_shape(const std::string& text) {
  std::vector<int64_t> shape;
  std::stringstream in(text);
  std::string part;
  while (std::getline(in, part, 'x')) shape.push_back(std::stoll(part));
  return shape;
}

json bench_adamw(const Options& options, const DeviceMesh& mesh) {
  const auto g = mesh.get_group(0);
  json results = json::array();
  for (const auto& text : options.adamw_shapes) {
    const auto shape = parse_shape(text);
    std::vector<at::Tensor> dparams, lparams;
    for (int i = 0; i < options.params; ++i) {
      auto p = dtensor::distribute_tensor(at::randn(shape), mesh, {Shard(0)});
      p.set_requires_grad(true);
      p.mutable_grad() = dtensor::distribute_tensor(at::randn(shape), mesh, {Shard(0)});
      auto l = p.to_local().detach().clone().requires_grad_(true);
      l.mutable_grad() = dtensor::DTensor(p.grad()).to_local().clone();
      dparams.push_back(p);
      lparams.push_back(l);
    }
    const auto opts = torch::optim::AdamWOptions(1e-3).weight_decay(0.01);
    torch::optim::AdamW dopt(dparams, opts), lopt(lparams, opts);
    const auto m = bench::measure_pair([&] { lopt.step(); }, [&] { dopt.step(); }, options.timing, g);
    results.push_back({{"param_shape", shape},
                       {"params", options.params},
                       {"iters", m.iters},
                       {"dtensor_ms", m.b * 1e3},
                       {"local_ms", m.a * 1e3},
                       {"ratio", m.b / m.a},
                       {"ratio_paired", m.ratio}});
    if (is_rank0())
      std::fprintf(stderr, "adamw %d x %-9s dtensor %8.3f ms  local %8.3f ms  ratio %.3f (paired %.3f)\n",
                   options.params, text.c_str(), m.b * 1e3, m.a * 1e3, m.b / m.a, m.ratio);
  }
  return results;
}

// A small tensor-parallel block trained for a few steps; once warm, the cache must serve every call.
json bench_cache(const Options& options, const DeviceMesh& mesh) {
  namespace F = torch::nn::functional;
  const int64_t dim = 32, hidden = 64;
  auto param = [&](at::Tensor t, dtensor::Placements p) {
    return dtensor::distribute_tensor(t, mesh, p).set_requires_grad(true);
  };
  auto ln_w = param(at::ones({dim}), {Replicate()}), ln_b = param(at::zeros({dim}), {Replicate()});
  auto w1 = param(at::randn({hidden, dim}) * 0.1, {Shard(0)}), b1 = param(at::zeros({hidden}), {Shard(0)});
  auto w2 = param(at::randn({dim, hidden}) * 0.1, {Shard(1)}), b2 = param(at::zeros({dim}), {Replicate()});
  torch::optim::AdamW opt({ln_w, ln_b, w1, b1, w2, b2}, torch::optim::AdamWOptions(1e-3));
  dtensor::manual_seed(0, mesh);
  auto step = [&] {
    auto x = dtensor::distribute_tensor(at::randn({4, 8, dim}), mesh, {Replicate()});
    auto h = F::layer_norm(x, F::LayerNormFuncOptions({dim}).weight(ln_w).bias(ln_b));
    h = F::dropout(F::gelu(F::linear(h, w1, b1)), F::DropoutFuncOptions().p(0.1));
    auto out = x + F::linear(h, w2, b2);
    opt.zero_grad();
    out.pow(2).mean().backward();
    opt.step();
  };
  step();
  step();
  const auto before = dtensor::ops::sharding_cache_stats();
  for (int i = 0; i < options.steps; ++i) step();
  const auto after = dtensor::ops::sharding_cache_stats();
  const int64_t hits = after.hits - before.hits, misses = after.misses - before.misses;
  const double rate = static_cast<double>(hits) / static_cast<double>(std::max<int64_t>(1, hits + misses));
  if (is_rank0())
    std::fprintf(stderr, "cache %d steps: %lld hits, %lld misses, hit rate %.4f, %lld entries\n", options.steps,
                 static_cast<long long>(hits), static_cast<long long>(misses), rate,
                 static_cast<long long>(after.entries));
  return {{"steps", options.steps},         {"hits", hits},
          {"misses", misses},               {"hit_rate", rate},
          {"lookups_per_step", (hits + misses) / options.steps}, {"entries", after.entries}};
}

int run(const Options& options) {
  at::set_num_threads(options.threads);
  dtensor::init_process_group();
  auto mesh = dtensor::init_device_mesh("cpu", {dtensor::get_world_size()});
  at::manual_seed(0);
  json report = {{"bench", "dispatch"},
                 {"backend", dtensor::get_backend()},
                 {"world_size", dtensor::get_world_size()},
                 {"clock", bench::clock_name(options.timing.clock)},
                 {"repeats", options.timing.repeats},
                 {"min_block_ms", options.timing.min_block_ms},
                 {"intra_op_threads", options.threads}};
  for (const auto& suite : options.suites) {
    if (suite == "ops") report["ops"] = bench_ops(options, mesh);
    if (suite == "adamw") report["adamw"] = bench_adamw(options, mesh);
    if (suite == "cache") report["cache"] = bench_cache(options, mesh);
  }
  if (is_rank0()) std::cout << report.dump(2) << std::endl;
  dtensor::destroy_process_group();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  std::string clock = "cpu";
  CLI::App app{"Cost of DTensor op dispatch: per-op overhead, AdamW step ratio, sharding cache hit rate"};
  app.add_option("--repeats", options.timing.repeats, "timed blocks per path; median reported (default 15)")
      ->check(CLI::PositiveNumber);
  app.add_option("--min-block-ms", options.timing.min_block_ms, "minimum duration of a timed block (default 10)")
      ->check(CLI::PositiveNumber);
  app.add_option("--clock", clock, "cpu (this thread's CPU time, default) or wall")
      ->check(CLI::IsMember({"cpu", "wall"}));
  app.add_option("--threads", options.threads, "ATen intra-op threads per rank (default 1)")
      ->check(CLI::PositiveNumber);
  app.add_option("--steps", options.steps, "steady-state training steps of the cache suite (default 10)")
      ->check(CLI::PositiveNumber);
  app.add_option("--params", options.params, "parameters of the adamw suite (default 100)")
      ->check(CLI::PositiveNumber);
  app.add_option("--adamw-shapes", options.adamw_shapes, "parameter shapes of the adamw suite (default 64x64,256x1024)")
      ->check([](const std::string& s) {
        return s.find_first_not_of("0123456789x") == std::string::npos && s.front() != 'x' && s.back() != 'x'
                   ? std::string()
                   : "expected a shape like 64x64, got '" + s + "'";
      })
      ->delimiter(',');
  app.add_option("--suites", options.suites, "ops, adamw, cache (default all)")
      ->check(CLI::IsMember({"ops", "adamw", "cache"}))
      ->delimiter(',');
  CLI11_PARSE(app, argc, argv);
  options.timing.clock = clock == "wall" ? bench::Clock::Wall : bench::Clock::ThreadCpu;
  try {
    return run(options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_dispatch: %s\n", e.what());
    return 1;
  }
}
