// Tensor parallelism through DTensor (parallelize_module + styles) against hand-written Megatron-LM
// code (bench/tp_megatron.h), as JSON on stdout (rank 0); a readable summary goes to stderr.
// Figures and targets: bench/README.md, "Tensor parallel vs hand-written Megatron".
//
//   cd <build>
//   OMP_NUM_THREADS=1 tools/dtensor-run --nproc-per-node 2 --no-prefix bench/bench_tp        # Gloo
//   OMP_NUM_THREADS=1 mpirun --oversubscribe -np 2 bench/bench_tp                            # MPI
// (as root, mpirun also needs OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1). The
// tensor-parallel degree t is the world size. --suites picks a subset.
//
// Suites
//   step         forward+backward time of (a) one llama::Block parallelized with llama::block_plan
//                (the per-block part of llama::parallelize), (b) an MLP Linear(d,4d)-GELU-
//                Linear(4d,d) with ColwiseParallel/RowwiseParallel, each without and with sequence
//                parallel, against the hand-written code on the SAME weight values (the local
//                shards of our DTensor parameters) and the same process group. Outputs, input
//                gradients and the sharded weights' gradients must agree first (else the run
//                aborts). Grads are reset to undefined before every step on all paths. Two
//                baselines, the same code waiting differently for its collectives
//                (bench/tp_megatron.h, Wait): "blocking" (plain dtensor::comm calls, the direct
//                transcription of Megatron's mappings) and "async" (every collective
//                async-then-wait: the DTensor path's pattern, so ours/async isolates what DTensor
//                itself costs). On MPI a blocking call busy-polls inside Open MPI while peers are
//                late, dtensor's wait spins ~50 us, then yields the core, then sleeps: on cores
//                shared with the peer rank or with other work that is worth up to tens of percent.
//                Figure: ours / handwritten against each (target <= 1.10).
//   speedup      the parallelized block on t ranks (1 intra-op thread each) against the plain
//                single-device llama::Block on rank 0 alone while the other ranks wait in a
//                barrier, at a compute-bound size. Figure: t=1 time / t time (target >= 1.6 at
//                t=2).
//   memory       (a) per-rank parameter bytes of the parallelized llama::Transformer against
//                sharded/t + replicated, from the Args alone (within 5%); (b) activation bytes
//                per layer against the formula below: the growth of live heap (glibc mallinfo2
//                uordblks + hblkhd) across a forward pass (graph alive; least of 3), for a
//                5-layer and a 1-layer model, difference / 4 (embedding, head and logits cancel).
//   collectives  CommDebugMode per-module counts of one training step of llama::Transformer,
//                summed per layer ("layers.<i>." paths), forward and backward separately,
//                against Megatron's minimum: 2 all_reduce each way per layer without SP; 2
//                all_gather + 2 reduce_scatter each way with SP.
//
// Timing (step, speedup): wall clock by default; a block is barrier, `iters` steps, elapsed / iters,
// max over ranks (bench/timing.h). --clock cpu times the calling thread's CPU instead: with Gloo
// (whose waits block and whose transfers run on its own threads) that is the compute plus the
// framework's work on this thread, without the time other processes take from a shared machine;
// with MPI it also counts busy-polling, so it means nothing there. The paths rotate their order from repeat to repeat;
// figures are medians over repeats, and the ratio is the median of the within-repeat ratios (load drifting between
// repeats cancels); min/max of those ratios show the noise.
//
// Activation memory of one block, derived for this model (fp32: 4 bytes per element; no dropout).
// s sequence, b batch, h dim, a heads, f ffn_hidden, t tensor-parallel degree. Tensors autograd
// saves for backward (libtorch 1.13 saves a mul operand only when the other one needs a gradient;
// checked op by op with the same heap counter):
//   RMSNorm x*rsqrt(sum(x^2)/h+eps)*w, twice per block: its input x (pow, mul), x*r (mul by w),
//     r (sb, small); its output y is kept by the next linears (matmul keeps its input). (x^2 is
//     not kept: sum.dim_IntList saves only sizes, where mean.dim would keep it.)  3 sbh each
//   attention: matmul on [b, heads, s, hd] views copies q, and k, v after repeat_interleave (GQA
//     expands kv heads to a), into contiguous batches that bmm keeps: 3 sbh; softmax keeps its
//     output: a s^2 b; the attention output reshaped to [b, s, h] (a copy) is wo's input: sbh.
//     The rotary products keep only cos/sin tables (s hd), the mask s^2 bytes: small.
//   feed-forward: w1 x (silu's input), silu(w1 x) and w3 x (both mul operands), their product
//     (w2's input): 4 sbf.
//   per block, no TP:  sbh (10 + 4f/h + as/h)                          elements
//   TP, no SP:         sbh (6 + (4 + 4f/h + as/h) / t)    the norms' x, x*r, y stay whole;
//                                                         heads and hidden units are split
//   TP + SP:           sbh (2 + (8 + 4f/h + as/h) / t)    the norms run on s/t; the gathered norm
//                                                         output y (2 sbh) is kept whole for the
//                                                         column-parallel backward
// Korthikanti et al. 2022 count the same way (their 34 sbh + 5 as^2 b is fp16 GPT with dropout
// masks; with SP everything is / t because Megatron re-gathers y in backward). The "megatron_sp"
// figure is that variant, sbh (10 + 4f/h + as/h) / t: ours keeps the gathered y instead (one
// all_gather per half-block fewer in backward, 2 sbh (1 - 1/t) more memory). Small terms are left
// out (about 1-2% at the default sizes).
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <limits>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "llama/llama.h"
#include "timing.h"
#include "tp_megatron.h"

namespace {

namespace comm = dtensor::comm;
namespace tp = dtensor::parallel;
using dtensor::DTensor;
using dtensor::nn::unique_parameters;
using dtensor::Shard;
using json = nlohmann::json;
using Fn = std::function<at::Tensor(const at::Tensor&)>;

struct Options {
  std::vector<std::string> suites = {"step", "speedup", "memory", "collectives"};
  std::string block_model = "medium";
  int64_t batch = 2, seq = 128;
  int64_t mlp_dim = 512;
  std::string speedup_model = "large";
  int64_t speedup_batch = 1, speedup_seq = 256;
  std::vector<std::string> param_models = {"small", "medium"};
  std::string memory_model = "small";
  int64_t memory_batch = 4, memory_seq = 128;
  std::string collectives_model = "tiny";
  int threads = 1;
  uint64_t seed = 0;
  bench::Timing timing{/*repeats=*/9, /*min_block_ms=*/200, /*min_iters=*/2, bench::Clock::Wall};
};

constexpr double kStepTarget = 1.10, kSpeedupTarget = 1.6, kMemoryTolerance = 0.05;
constexpr double kAgreement = 1e-4;  // max |ours - handwritten| / max |handwritten|
constexpr int64_t kExtraLayers = 4;  // activation memory per layer: (1 + k layers - 1 layer) / k

struct Context {
  dtensor::DeviceMesh mesh;
  comm::Group group;
  int rank = 0, n = 1;
  const Options& options;
  bool leader() const { return rank == 0; }
};

std::vector<double> load_average() {
  std::ifstream in("/proc/loadavg");
  std::vector<double> v(3, 0.0);
  in >> v[0] >> v[1] >> v[2];
  return v;
}

const at::Tensor& local_of(const at::Tensor& t) { return dtensor::is_dtensor(t) ? DTensor(t).local_tensor() : t; }

// A hand-written leaf holding the same values as our parameter's local shard.
at::Tensor leaf_like(const at::Tensor& param) { return local_of(param).detach().clone().requires_grad_(true); }

// Live heap bytes: in-use arena chunks plus mmapped chunks (libtorch's CPU allocator is malloc).
int64_t live_heap_bytes() {
  const struct mallinfo2 m = mallinfo2();
  return static_cast<int64_t>(m.uordblks + m.hblkhd);
}

std::vector<double> gather_over_ranks(double value, const Context& ctx) {
  auto all = comm::all_gather(at::full({1}, value, at::kDouble), 0, ctx.group);
  return std::vector<double>(all.data_ptr<double>(), all.data_ptr<double>() + all.numel());
}

// This rank's piece of a [b, s, ...] tensor: its sequence chunk with SP, all of it otherwise.
at::Tensor piece(const at::Tensor& full, bool sp, const Context& ctx) {
  return sp ? full.chunk(ctx.n, 1)[ctx.rank].contiguous() : full;
}

// One training step's compute: forward, backward from a fixed output gradient; gradients reset to
// undefined first (optimizer.zero_grad(set_to_none=True)), so no step pays for accumulation.
void step(const Fn& forward, const std::vector<at::Tensor>& params, const at::Tensor& x, const at::Tensor& dy) {
  for (const auto& p : params) p.mutable_grad().reset();
  x.mutable_grad().reset();
  forward(x).backward(dy);
}

// ---- paired timing -----------------------------------------------------------------------------

using Series = std::vector<double>;  // seconds per call, one per repeat

// Median, min and max of per-repeat values, times `scale`.
json summary(const std::vector<double>& v, double scale = 1) {
  return {{"median", bench::median(v) * scale},
          {"min", *std::min_element(v.begin(), v.end()) * scale},
          {"max", *std::max_element(v.begin(), v.end()) * scale}};
}

std::vector<double> ratios(const Series& num, const Series& den) {
  std::vector<double> r;
  for (size_t i = 0; i < num.size(); ++i) r.push_back(num[i] / den[i]);
  return r;
}

// Times every path `repeats` times in blocks of `iters` calls, rotating the order each repeat.
std::vector<Series> time_rotating(const std::vector<std::function<double(int64_t)>>& blocks, int64_t iters,
                                  int repeats) {
  std::vector<Series> out(blocks.size());
  for (int rep = 0; rep < repeats; ++rep) {
    for (size_t k = 0; k < blocks.size(); ++k) {
      const size_t i = (k + static_cast<size_t>(rep)) % blocks.size();
      out[i].push_back(blocks[i](iters));
    }
  }
  return out;
}

// ---- step --------------------------------------------------------------------------------------

struct Path {
  Fn forward;
  std::vector<at::Tensor> params;
  at::Tensor x;  // leaf input requiring grad
};

// A tensor both paths must agree on after one step (read after the step has run).
struct Check {
  std::string what;
  std::function<at::Tensor()> ours, handwritten;
};

Check input_grad_check(const Path& ours, const Path& hw) {
  return {"input grad", [&ours] { return ours.x.grad(); }, [&hw] { return hw.x.grad(); }};
}

// A sharded weight's gradient has the weight's placements: its local shard is Megatron's gradient.
Check weight_grad_check(const std::string& name, const at::Tensor& ours_param, const at::Tensor& hw_param) {
  return {name + " grad", [ours_param] { return local_of(ours_param.grad()); }, [hw_param] { return hw_param.grad(); }};
}

// Runs one step of both paths and aborts (on every rank alike) unless the outputs and every check
// agree: otherwise the timings would compare different computations.
void verify(const std::string& name, const Path& ours, const Path& hw, const at::Tensor& dy,
            const std::vector<Check>& checks, const Context& ctx) {
  for (const auto* path : {&ours, &hw}) {
    for (const auto& p : path->params) p.mutable_grad().reset();
    path->x.mutable_grad().reset();
  }
  auto y_ours = ours.forward(ours.x), y_hw = hw.forward(hw.x);
  y_ours.backward(dy);
  y_hw.backward(dy);
  std::vector<Check> all{{"output", [&] { return y_ours.detach(); }, [&] { return y_hw.detach(); }}};
  all.insert(all.end(), checks.begin(), checks.end());
  std::vector<double> errors;
  for (const auto& c : all) {
    auto a = c.ours(), b = c.handwritten();
    TORCH_CHECK(a.defined() && b.defined() && a.sizes() == b.sizes(), name, ": ", c.what,
                " is undefined or differs in shape between the paths (ours ",
                a.defined() ? a.sizes() : at::IntArrayRef{}, ", handwritten ",
                b.defined() ? b.sizes() : at::IntArrayRef{}, ")");
    errors.push_back((a - b).abs().max().item<double>() / std::max(b.abs().max().item<double>(), 1e-30));
  }
  auto worst = comm::all_reduce(at::tensor(errors, at::kDouble), comm::ReduceOp::Max, ctx.group);
  for (size_t i = 0; i < all.size(); ++i) {
    const double e = worst[static_cast<int64_t>(i)].item<double>();
    TORCH_CHECK(e <= kAgreement, name, ": the DTensor path and the hand-written Megatron code ", "disagree on ",
                all[i].what, " (max relative difference ", e, " > ", kAgreement,
                " on some rank); the timings would compare different computations");
  }
}

// The hand-written baselines, one per bench::megatron::Wait mode, sharing their weight leaves.
struct Baselines {
  Path blocking, async;
};
const char* const kBaselineNames[] = {"blocking", "async"};

json time_step_case(const std::string& name, json shape, const Path& ours, const Baselines& hw, const at::Tensor& dy,
                    const std::vector<Check>& checks, const Context& ctx) {
  const std::vector<const Path*> baselines{&hw.blocking, &hw.async};
  for (size_t k = 0; k < baselines.size(); ++k)
    verify(name + " (" + kBaselineNames[k] + " collectives)", ours, *baselines[k], dy, checks, ctx);
  const auto& t = ctx.options.timing;
  std::vector<std::function<void()>> runs;
  for (const auto* path : {&hw.blocking, &hw.async, &ours})
    runs.push_back([path, &dy] { step(path->forward, path->params, path->x, dy); });
  int64_t iters = 0;
  for (const auto& run : runs) iters = std::max(iters, bench::calibrate(run, t, ctx.group).iters);
  std::vector<std::function<double(int64_t)>> blocks;
  for (const auto& run : runs) blocks.push_back([&](int64_t i) { return bench::time_block(run, i, t, ctx.group); });
  const auto series = time_rotating(blocks, iters, t.repeats);
  const auto& ours_s = series.back();
  json handwritten, ratio, meets;
  std::string line;
  for (size_t k = 0; k < baselines.size(); ++k) {
    const auto r = ratios(ours_s, series[k]);
    handwritten[kBaselineNames[k]] = summary(series[k], 1e3);
    ratio[kBaselineNames[k]] = summary(r);
    meets[kBaselineNames[k]] = bench::median(r) <= kStepTarget;
    char buf[160];
    std::snprintf(buf, sizeof(buf), "  %s %.2f ms -> %.3f [%.3f, %.3f]", kBaselineNames[k],
                  bench::median(series[k]) * 1e3, bench::median(r), *std::min_element(r.begin(), r.end()),
                  *std::max_element(r.begin(), r.end()));
    line += buf;
  }
  if (ctx.leader())
    std::fprintf(stderr, "step %-14s ours %7.2f ms; ours/handwritten by baseline:%s\n", name.c_str(),
                 bench::median(ours_s) * 1e3, line.c_str());
  return {{"case", name},
          {"shape", std::move(shape)},
          {"iters", iters},
          {"ours_ms", summary(ours_s, 1e3)},
          {"handwritten_ms", handwritten},
          {"ratio", ratio},
          {"target", kStepTarget},
          {"meets_target", meets}};
}

// The three baselines of one hand-written module (Block or MLP), sharing weights and input leaf.
template <class Module>
Baselines baselines(Module m, const at::Tensor& x) {
  using bench::megatron::Wait;
  auto path = [&](Wait w, const at::Tensor& leaf) {
    m.wait = w;
    return Path{[m](const at::Tensor& in) { return m.forward(in); }, m.parameters(), leaf};
  };
  auto leaf = x.clone().requires_grad_(true);
  return {path(Wait::Blocking, leaf), path(Wait::Async, leaf)};
}

// Our llama::Block parallelized with the per-block part of llama::parallelize's plan.
llama::Block parallel_block(const llama::Args& args, bool sp, const Context& ctx) {
  torch::manual_seed(ctx.options.seed);
  llama::Block block(args);
  tp::parallelize_module(block, ctx.mesh, llama::block_plan({sp, /*loss_parallel=*/false}));
  return block;
}

json llama_block_case(bool sp, const Context& ctx) {
  const auto& o = ctx.options;
  const auto args = llama::Args::preset(o.block_model);
  auto block = parallel_block(args, sp, ctx);
  const auto& attn = block->attention;
  const auto& ffn = block->feed_forward;

  bench::megatron::Block mb;
  mb.attention_norm = leaf_like(block->attention_norm->weight);
  mb.ffn_norm = leaf_like(block->ffn_norm->weight);
  mb.wq = leaf_like(attn->wq->weight);
  mb.wk = leaf_like(attn->wk->weight);
  mb.wv = leaf_like(attn->wv->weight);
  mb.wo = leaf_like(attn->wo->weight);
  mb.w1 = leaf_like(ffn->w1->weight);
  mb.w2 = leaf_like(ffn->w2->weight);
  mb.w3 = leaf_like(ffn->w3->weight);
  mb.head_dim = args.head_dim();
  mb.eps = args.norm_eps;
  mb.theta = args.rope_theta;
  mb.sp = sp;

  torch::manual_seed(o.seed + 1);  // the same inputs on every rank
  auto x = at::randn({o.batch, o.seq, args.dim}), dy = at::randn({o.batch, o.seq, args.dim});
  Path ours{[block](const at::Tensor& in) mutable { return block(in, 0, nullptr); }, unique_parameters(*block),
            piece(x, sp, ctx).clone().requires_grad_(true)};
  const auto hw = baselines(mb, piece(x, sp, ctx));
  std::vector<Check> checks{input_grad_check(ours, hw.blocking),
                            weight_grad_check("wq", attn->wq->weight, mb.wq),
                            weight_grad_check("wk", attn->wk->weight, mb.wk),
                            weight_grad_check("wv", attn->wv->weight, mb.wv),
                            weight_grad_check("wo", attn->wo->weight, mb.wo),
                            weight_grad_check("w1", ffn->w1->weight, mb.w1),
                            weight_grad_check("w2", ffn->w2->weight, mb.w2),
                            weight_grad_check("w3", ffn->w3->weight, mb.w3)};
  json shape = {{"model", o.block_model},
                {"batch", o.batch},
                {"seq", o.seq},
                {"dim", args.dim},
                {"heads", args.n_heads},
                {"kv_heads", args.n_kv_heads},
                {"ffn_hidden", args.ffn_hidden}};
  return time_step_case(sp ? "llama_block_sp" : "llama_block", shape, ours, hw, piece(dy, sp, ctx), checks, ctx);
}

// The MLP of PyTorch's tensor-parallel examples, with hookable layers.
struct MLPImpl : torch::nn::Module {
  explicit MLPImpl(int64_t dim)
      : net1(register_module("net1", dtensor::nn::Linear(dim, 4 * dim))),
        net2(register_module("net2", dtensor::nn::Linear(4 * dim, dim))) {}
  at::Tensor forward(const at::Tensor& x) { return net2(at::gelu(net1(x))); }
  dtensor::nn::Linear net1, net2;
};
DTENSOR_MODULE(MLP);

json mlp_case(bool sp, const Context& ctx) {
  const auto& o = ctx.options;
  torch::manual_seed(o.seed);
  MLP mlp(o.mlp_dim);
  // Without SP the input is replicated and the output all-reduced; with SP both are this rank's
  // sequence piece (all_gather in, reduce_scatter out).
  tp::ParallelizePlan plan = sp ? tp::ParallelizePlan{{"net1", tp::ColwiseParallel().input_layouts(Shard(1))},
                                                      {"net2", tp::RowwiseParallel().output_layouts(Shard(1))}}
                                : tp::ParallelizePlan{{"net1", tp::ColwiseParallel()}, {"net2", tp::RowwiseParallel()}};
  tp::parallelize_module(mlp, ctx.mesh, plan);

  bench::megatron::MLP mm;
  mm.w1 = leaf_like(mlp->net1->weight);
  mm.b1 = leaf_like(mlp->net1->bias);
  mm.w2 = leaf_like(mlp->net2->weight);
  mm.b2 = leaf_like(mlp->net2->bias);
  mm.sp = sp;

  torch::manual_seed(o.seed + 1);  // the same inputs on every rank
  auto x = at::randn({o.batch, o.seq, o.mlp_dim}), dy = at::randn({o.batch, o.seq, o.mlp_dim});
  Path ours{[mlp](const at::Tensor& in) mutable { return mlp(in); }, unique_parameters(*mlp),
            piece(x, sp, ctx).clone().requires_grad_(true)};
  const auto hw = baselines(mm, piece(x, sp, ctx));
  std::vector<Check> checks{input_grad_check(ours, hw.blocking),
                            weight_grad_check("net1.weight", mlp->net1->weight, mm.w1),
                            weight_grad_check("net1.bias", mlp->net1->bias, mm.b1),
                            weight_grad_check("net2.weight", mlp->net2->weight, mm.w2)};
  json shape = {{"batch", o.batch}, {"seq", o.seq}, {"dim", o.mlp_dim}, {"hidden", 4 * o.mlp_dim}};
  return time_step_case(sp ? "mlp_sp" : "mlp", shape, ours, hw, piece(dy, sp, ctx), checks, ctx);
}

json step_suite(const Context& ctx) {
  json out = json::array();
  for (bool sp : {false, true}) out.push_back(llama_block_case(sp, ctx));
  for (bool sp : {false, true}) out.push_back(mlp_case(sp, ctx));
  return out;
}

// ---- speedup -----------------------------------------------------------------------------------

json speedup_suite(const Context& ctx) {
  const auto& o = ctx.options;
  const auto& t = o.timing;
  const auto args = llama::Args::preset(o.speedup_model);
  torch::manual_seed(o.seed);
  llama::Block single(args);       // the single-device model: plain tensors, no hooks
  torch::manual_seed(o.seed + 1);  // the same inputs on every rank
  auto x = at::randn({o.speedup_batch, o.speedup_seq, args.dim});
  auto dy = at::randn({o.speedup_batch, o.speedup_seq, args.dim});
  Path one{[single](const at::Tensor& in) mutable { return single(in, 0, nullptr); }, unique_parameters(*single),
           x.clone().requires_grad_(true)};

  std::vector<Path> parallel;
  std::vector<at::Tensor> parallel_dy;
  for (bool sp : {false, true}) {
    auto block = parallel_block(args, sp, ctx);
    parallel.push_back({[block](const at::Tensor& in) mutable { return block(in, 0, nullptr); },
                        unique_parameters(*block), piece(x, sp, ctx).clone().requires_grad_(true)});
    parallel_dy.push_back(piece(dy, sp, ctx));
    // Same function as the single-device block (same seed, parameters scattered from rank 0).
    at::NoGradGuard no_grad;
    const double err =
        (parallel.back().forward(parallel.back().x) - piece(one.forward(one.x), sp, ctx)).abs().max().item<double>();
    TORCH_CHECK(bench::max_over_ranks(err, ctx.group) <= 1e-3, "speedup: the parallelized block (sp=", sp,
                ") differs from the single-device block by ", err);
  }

  // Rank 0 alone; the others wait in the closing barrier.
  auto single_block = [&](int64_t iters) {
    comm::barrier(ctx.group);
    double per_step = 0;
    if (ctx.leader()) {
      const double start = bench::now_seconds(t.clock);
      for (int64_t i = 0; i < iters; ++i) step(one.forward, one.params, one.x, dy);
      per_step = (bench::now_seconds(t.clock) - start) / static_cast<double>(iters);
    }
    comm::barrier(ctx.group);
    return bench::max_over_ranks(per_step, ctx.group);
  };
  auto parallel_run = [&](size_t k) {
    return [&, k] { step(parallel[k].forward, parallel[k].params, parallel[k].x, parallel_dy[k]); };
  };
  single_block(1);  // warm-up
  int64_t iters =
      std::max<int64_t>(t.min_iters, static_cast<int64_t>(std::ceil(t.min_block_ms / (single_block(1) * 1e3))));
  for (size_t k = 0; k < parallel.size(); ++k)
    iters = std::max(iters, bench::calibrate(parallel_run(k), t, ctx.group).iters);
  auto series =
      time_rotating({single_block, [&](int64_t i) { return bench::time_block(parallel_run(0), i, t, ctx.group); },
                     [&](int64_t i) { return bench::time_block(parallel_run(1), i, t, ctx.group); }},
                    iters, t.repeats);
  json variants = json::array();
  for (size_t k = 0; k < parallel.size(); ++k) {
    const bool sp = k == 1;
    const auto s = ratios(series[0], series[k + 1]);
    const double speedup = bench::median(s);
    variants.push_back({{"sequence_parallel", sp},
                        {"tp_ms", summary(series[k + 1], 1e3)},
                        {"speedup", speedup},
                        {"speedup_spread", summary(s)},
                        {"meets_target", speedup >= kSpeedupTarget}});
    if (ctx.leader())
      std::fprintf(stderr, "speedup tp=%d%s  single %8.1f ms  tp %8.1f ms  speedup %.2f (min %.2f, max %.2f)%s\n",
                   ctx.n, sp ? " sp" : "   ", bench::median(series[0]) * 1e3, bench::median(series[k + 1]) * 1e3,
                   speedup, *std::min_element(s.begin(), s.end()), *std::max_element(s.begin(), s.end()),
                   speedup >= kSpeedupTarget ? "" : "  MISSES TARGET");
  }
  return {{"shape",
           {{"model", o.speedup_model},
            {"batch", o.speedup_batch},
            {"seq", o.speedup_seq},
            {"dim", args.dim},
            {"heads", args.n_heads},
            {"kv_heads", args.n_kv_heads},
            {"ffn_hidden", args.ffn_hidden}}},
          {"iters", iters},
          {"single_ms", summary(series[0], 1e3)},
          {"target", kSpeedupTarget},
          {"variants", variants}};
}

// ---- memory ------------------------------------------------------------------------------------

// Parameter elements per rank under llama::parallelize, from the Args alone: every linear and the
// embedding are split t ways (heads, hidden units, vocabulary rows); the norms are replicated.
double formula_param_elements(const llama::Args& a, int t) {
  const int64_t hd = a.head_dim();
  const int64_t per_layer = a.dim * a.n_heads * hd * 2       // wq, wo
                            + a.dim * a.n_kv_heads * hd * 2  // wk, wv
                            + 3 * a.dim * a.ffn_hidden;      // w1, w2, w3
  const int64_t sharded = 2 * a.vocab_size * a.dim + a.n_layers * per_layer;
  const int64_t replicated = (2 * a.n_layers + 1) * a.dim;
  return static_cast<double>(sharded) / t + static_cast<double>(replicated);
}

json parameter_memory(const std::string& model_name, const Context& ctx) {
  const auto args = llama::Args::preset(model_name);
  torch::manual_seed(ctx.options.seed);
  llama::Transformer model(args);
  llama::parallelize(model, ctx.mesh, {});
  double bytes = 0;
  for (const auto& p : unique_parameters(*model))
    bytes += static_cast<double>(local_of(p).numel() * local_of(p).element_size());
  const double formula = formula_param_elements(args, ctx.n) * 4;
  const auto per_rank = gather_over_ranks(bytes, ctx);
  double worst = 0;
  for (double b : per_rank) worst = std::max(worst, std::abs(b - formula) / formula);
  if (ctx.leader())
    std::fprintf(stderr, "memory params %-7s per rank %.0f B (max over ranks)  formula %.0f B  error %.2f%%\n",
                 model_name.c_str(), *std::max_element(per_rank.begin(), per_rank.end()), formula, worst * 100);
  return {{"model", model_name},
          {"bytes_per_rank", per_rank},
          {"formula_bytes", formula},
          {"max_relative_error", worst},
          {"within_tolerance", worst <= kMemoryTolerance}};
}

// Forward-pass heap growth of a `layers`-layer model (graph alive), after a warm-up step. Gloo's
// worker threads drop their reference to a finished collective's buffers a little after the
// caller's wait returns, so the heap is read after a pause; and the least of three forwards is
// kept (communication threads may add allocations to one, never take them away).
double forward_growth(const llama::Args& base, int64_t layers, const char* config, const at::Tensor& tokens,
                      const Context& ctx) {
  auto args = base;
  args.n_layers = layers;
  torch::manual_seed(ctx.options.seed);
  llama::Transformer model(args);
  const std::string c = config;
  if (c != "tp1") llama::parallelize(model, ctx.mesh, {/*sequence_parallel=*/c == "tp_sp", /*loss_parallel=*/false});
  llama::loss(model(tokens), tokens).backward();  // warm-up: sharding cache, one-time buffers
  double growth = std::numeric_limits<double>::infinity();
  auto settled_heap = [] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return live_heap_bytes();
  };
  for (int i = 0; i < 3; ++i) {
    const int64_t before = settled_heap();
    auto logits = model(tokens);
    growth = std::min(growth, static_cast<double>(settled_heap() - before));
  }
  return growth;
}

json activation_memory(const Context& ctx) {
  const auto& o = ctx.options;
  const auto a = llama::Args::preset(o.memory_model);
  const double s = static_cast<double>(o.memory_seq), b = static_cast<double>(o.memory_batch);
  const double h = static_cast<double>(a.dim), f = static_cast<double>(a.ffn_hidden);
  const double heads = static_cast<double>(a.n_heads), t = ctx.n, sbh = s * b * h, bytes = 4;
  const double split = 4 * f / h + heads * s / h;  // feed-forward and attention-score terms
  const std::map<std::string, double> formula{{"tp1", bytes * sbh * (10 + split)},
                                              {"tp", bytes * sbh * (6 + (4 + split) / t)},
                                              {"tp_sp", bytes * sbh * (2 + (8 + split) / t)}};
  torch::manual_seed(o.seed);
  auto tokens = at::randint(a.vocab_size, {o.memory_batch, o.memory_seq}, at::kLong);
  json configs = json::array();
  for (const char* config : {"tp1", "tp", "tp_sp"}) {
    const double per_layer =
        (forward_growth(a, 1 + kExtraLayers, config, tokens, ctx) - forward_growth(a, 1, config, tokens, ctx)) /
        kExtraLayers;
    const auto per_rank = gather_over_ranks(per_layer, ctx);
    const double measured = *std::max_element(per_rank.begin(), per_rank.end());
    const double expected = formula.at(config);
    json rec = {{"config", config},
                {"sequence_parallel", std::string(config) == "tp_sp"},
                {"tp", std::string(config) == "tp1" ? 1 : ctx.n},
                {"measured_bytes_per_layer", per_rank},
                {"formula_bytes_per_layer", expected},
                {"measured_over_formula", measured / expected},
                {"within_tolerance", std::abs(measured / expected - 1) <= kMemoryTolerance}};
    if (std::string(config) == "tp_sp") rec["megatron_sp_formula_bytes_per_layer"] = bytes * sbh * (10 + split) / t;
    if (ctx.leader())
      std::fprintf(stderr,
                   "memory activations %-5s per layer %10.0f B (max over ranks)  formula %10.0f B  ratio %.3f\n",
                   config, measured, expected, measured / expected);
    configs.push_back(rec);
  }
  return {{"model", o.memory_model}, {"batch", o.memory_batch}, {"seq", o.memory_seq}, {"configs", configs}};
}

json memory_suite(const Context& ctx) {
  json params = json::array();
  for (const auto& m : ctx.options.param_models) params.push_back(parameter_memory(m, ctx));
  return {{"parameters", params}, {"activations", activation_memory(ctx)}};
}

// ---- collectives -------------------------------------------------------------------------------

using Counts = std::map<std::string, int64_t>;

json collectives_case(bool sp, const Context& ctx) {
  const auto& o = ctx.options;
  const auto args = llama::Args::preset(o.collectives_model);
  torch::manual_seed(o.seed);
  llama::Transformer model(args);
  llama::parallelize(model, ctx.mesh, {sp, /*loss_parallel=*/true});
  auto tokens = at::randint(args.vocab_size, {2, 4 * ctx.n}, at::kLong);
  auto train_step = [&] {
    auto vocab_parallel = tp::loss_parallel();
    llama::loss(model(tokens), tokens).backward();
  };
  train_step();  // so the counted step is an ordinary one
  dtensor::debug::CommDebugMode mode;
  train_step();
  const auto per_module = mode.get_per_module_counts();
  const Counts expected = sp ? Counts{{"all_gather", 2}, {"reduce_scatter", 2}} : Counts{{"all_reduce", 2}};
  json layers = json::array();
  bool equal = true;
  for (int64_t i = 0; i < args.n_layers; ++i) {
    const std::string prefix = "layers." + std::to_string(i) + ".";
    std::map<std::string, Counts> phases{{"forward", {}}, {"backward", {}}};
    for (const auto& [path, by_phase] : per_module) {
      if (path.rfind(prefix, 0) != 0 && path + "." != prefix) continue;
      for (const auto& [phase, counts] : by_phase)
        for (const auto& [name, count] : counts) phases[phase][name] += count;
    }
    equal = equal && phases["forward"] == expected && phases["backward"] == expected;
    layers.push_back({{"layer", i}, {"forward", phases["forward"]}, {"backward", phases["backward"]}});
  }
  if (ctx.leader()) {
    std::fprintf(stderr, "collectives %-6s per layer: %s Megatron's minimum (%s each way)\n", sp ? "sp" : "no-sp",
                 equal ? "equal to" : "NOT equal to", sp ? "2 all_gather + 2 reduce_scatter" : "2 all_reduce");
    if (!equal) std::fprintf(stderr, "%s", mode.table().c_str());
  }
  return {{"sequence_parallel", sp},
          {"model", o.collectives_model},
          {"megatron_minimum_per_layer", {{"forward", expected}, {"backward", expected}}},
          {"layers", layers},
          {"step_totals", mode.get_comm_counts()},
          {"equal", equal}};
}

json collectives_suite(const Context& ctx) {
  json out = json::array();
  for (bool sp : {false, true}) out.push_back(collectives_case(sp, ctx));
  return out;
}

// ---- driver ------------------------------------------------------------------------------------

int run(const Options& o) {
  at::set_num_threads(o.threads);
  dtensor::init_process_group();
  const int n = dtensor::get_world_size();
  TORCH_CHECK_VALUE(n > 1, "bench_tp needs at least 2 ranks (got a world of ", n,
                    "); start it with dtensor-run --nproc-per-node 2 or mpirun -np 2");
  auto mesh = dtensor::init_device_mesh("cpu", {n}, {"tp"});
  Context ctx{mesh, mesh.get_group(0), dtensor::get_rank(), n, o};
  bench::megatron::tp_group() = ctx.group;
  json report = {{"bench", "tp_vs_megatron"},
                 {"backend", dtensor::get_backend()},
                 {"tp", n},
                 {"intra_op_threads", o.threads},
                 {"clock", bench::clock_name(o.timing.clock)},
                 {"repeats", o.timing.repeats},
                 {"min_block_ms", o.timing.min_block_ms},
                 {"load_average_start", load_average()}};
  const std::map<std::string, std::function<json(const Context&)>> suites{
      {"step", step_suite}, {"speedup", speedup_suite}, {"memory", memory_suite}, {"collectives", collectives_suite}};
  for (const auto& name : o.suites) report[name] = suites.at(name)(ctx);
  report["load_average_end"] = load_average();
  if (ctx.leader()) std::cout << report.dump(2) << std::endl;
  dtensor::destroy_process_group();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"Tensor parallelism through DTensor against hand-written Megatron-LM code"};
  app.add_option("--suites", o.suites, "step speedup memory collectives (default: all)")
      ->check(CLI::IsMember({"step", "speedup", "memory", "collectives"}))
      ->capture_default_str();
  app.add_option("--block-model", o.block_model, "step: llama preset of the block")->capture_default_str();
  app.add_option("--batch", o.batch, "step: batch")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--seq", o.seq, "step: sequence length (divisible by the world size)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--mlp-dim", o.mlp_dim, "step: MLP model dim d")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--speedup-model", o.speedup_model)->capture_default_str();
  app.add_option("--speedup-batch", o.speedup_batch)->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--speedup-seq", o.speedup_seq)->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--param-models", o.param_models, "memory: presets for the parameter bytes")->capture_default_str();
  app.add_option("--memory-model", o.memory_model, "memory: preset for the activations")->capture_default_str();
  app.add_option("--memory-batch", o.memory_batch)->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--memory-seq", o.memory_seq)->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--collectives-model", o.collectives_model)->capture_default_str();
  app.add_option("--repeats", o.timing.repeats, "timed blocks per path; medians reported")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--min-block-ms", o.timing.min_block_ms, "minimum duration of a timed block")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--min-iters", o.timing.min_iters, "minimum steps per timed block")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  std::string clock = "wall";
  app.add_option("--clock", clock, "wall, or cpu (this thread's CPU time; Gloo only, see the header)")
      ->check(CLI::IsMember({"wall", "cpu"}))
      ->capture_default_str();
  app.add_option("--threads", o.threads, "ATen intra-op threads per rank")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--seed", o.seed)->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  o.timing.clock = clock == "cpu" ? bench::Clock::ThreadCpu : bench::Clock::Wall;
  try {
    return run(o);
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "bench_tp: %s\n", e.what_without_backtrace());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_tp: %s\n", e.what());
    return 1;
  }
}
