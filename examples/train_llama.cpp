// Trains the Llama-style model in tensor parallel and checks it against a single-process run.
//
//   dtensor-run --nproc-per-node 2 ./train_llama [--model small --steps 60 --no-sequence-parallel ...]
//   dtensor-run --nproc-per-node 4 ./train_llama --tp 2      # 2 data-parallel groups of tp 2
//
// Every rank reads the same deterministic byte-level corpus and batches. With --tp below the world
// size the ranks form a (dp, tp) mesh: the model is tensor-parallel over "tp", each dp group trains
// on its slice of the batch, and after backward the local gradients are averaged over "dp" in one
// all_reduce of a flat buffer (what DDP does for a TP model), which gives the whole batch's gradient. One line per interval
// on rank 0: step, loss, tokens/s, peak memory of every rank, collectives per step. At the end,
// rank 0 trains the same model single-process from the same seed and compares the loss curves and
// the final parameters; the program fails when they differ beyond the stated tolerance.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <random>
#include <string>

#include <CLI/CLI.hpp>
#include <torch/optim/adamw.h>

#include "llama/llama.h"
#include "demo_util.h"

namespace {

using Clock = std::chrono::steady_clock;
using dtensor::nn::unique_parameters;

struct Options {
  std::string model = "small";
  std::string backend;
  int tp = 0;  // 0: the world size
  int steps = 60;
  int batch = 8;
  int seq_len = 64;
  double lr = 1e-3;
  double clip = 1.0;
  int log_interval = 10;
  uint64_t seed = 0;
  bool sequence_parallel = true;
  bool loss_parallel = true;
  bool check = true;
  double tolerance = 2e-3;
  std::string save;
};

// A deterministic corpus: sentences drawn from small word lists. Enough structure for the loss to
// fall visibly within a few dozen steps, no file to ship.
std::string make_corpus(size_t bytes) {
  const std::vector<std::string> subjects{"the cat", "a dog", "the old sailor", "my neighbour", "the small robot",
                                          "a tired student", "the baker", "our teacher"};
  const std::vector<std::string> verbs{"sees", "likes", "paints", "carries", "follows", "repairs", "finds", "sells"};
  const std::vector<std::string> objects{"a red boat", "the blue door", "seven apples", "an empty box",
                                         "the long road", "a quiet song", "the morning bread", "two letters"};
  const std::vector<std::string> tails{" today", " again", " at night", " in the rain", "", " slowly", " with care", ""};
  std::mt19937_64 rng(1234);
  std::string text;
  while (text.size() < bytes) {
    text += subjects[rng() % subjects.size()] + " " + verbs[rng() % verbs.size()] + " " +
            objects[rng() % objects.size()] + tails[rng() % tails.size()] + ". ";
  }
  return text.substr(0, bytes);
}

// Random windows of seq_len + 1 bytes; the same on every rank (same seed).
at::Tensor batch_of(const at::Tensor& corpus, int64_t batch, int64_t seq_len, int step, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed * 1000003 + step);
  auto starts = at::randint(corpus.size(0) - seq_len - 1, {batch}, gen, at::kLong);
  std::vector<at::Tensor> rows;
  for (int64_t i = 0; i < batch; ++i) rows.push_back(corpus.narrow(0, starts[i].item<int64_t>(), seq_len + 1));
  return at::stack(rows);
}

double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

std::string progress_bar(int done, int total) {
  const int width = 24, filled = width * done / std::max(total, 1);
  return "[" + std::string(filled, '#') + std::string(width - filled, '.') + "]";
}

struct RunResult {
  std::vector<double> losses;
};

// Where a run lives: `tp` carries the model; `dp` (when there is more than one data-parallel group)
// averages gradients and losses; `world` spans every rank (memory report, the final verdict).
struct Parallel {
  dtensor::DeviceMesh world, tp;
  std::optional<dtensor::DeviceMesh> dp;
};

// Averages the local gradients of `params` over the dp group in one all_reduce of a flat buffer.
// A DTensor's local gradient is averaged as it is, whatever its tp placement: averaging commutes
// with the tp sum of a Partial and with the pieces of a Shard.
void average_over_dp(const std::vector<at::Tensor>& params, const dtensor::DeviceMesh& dp) {
  std::vector<at::Tensor> grads;
  for (const auto& p : params) {
    const auto& g = p.grad();
    if (g.defined()) grads.push_back(dtensor::is_dtensor(g) ? dtensor::DTensor(g).local_tensor() : g);
  }
  std::vector<at::Tensor> flat;
  for (const auto& g : grads) flat.push_back(g.reshape({-1}));
  auto buffer = at::cat(flat);
  dtensor::comm::all_reduce_(buffer, dtensor::comm::ReduceOp::Avg, dp.get_group());
  int64_t offset = 0;
  for (auto& g : grads) {
    g.copy_(buffer.narrow(0, offset, g.numel()).view_as(g));
    offset += g.numel();
  }
}

// One training run. `parallel` null: single process, plain tensors.
RunResult train(llama::Transformer& model, const std::optional<Parallel>& parallel, const Options& o,
                const at::Tensor& corpus, bool report) {
  const auto params = unique_parameters(*model);
  torch::optim::AdamW opt(params, torch::optim::AdamWOptions(o.lr).weight_decay(0.01));
  RunResult result;
  const int64_t tokens_per_step = static_cast<int64_t>(o.batch) * o.seq_len;
  auto interval_start = Clock::now();
  std::optional<dtensor::debug::CommDebugMode> comm;  // counts one logging interval
  comm.emplace();
  for (int step = 1; step <= o.steps; ++step) {
    auto data = batch_of(corpus, o.batch, o.seq_len, step, o.seed);
    if (parallel && parallel->dp) data = data.chunk(parallel->dp->size(), 0)[parallel->dp->get_local_rank()];
    auto inputs = data.narrow(1, 0, o.seq_len), targets = data.narrow(1, 1, o.seq_len);
    std::optional<dtensor::parallel::LossParallel> vocab_parallel;
    if (parallel && o.loss_parallel) vocab_parallel.emplace(dtensor::parallel::loss_parallel());
    auto loss = llama::loss(model(inputs), targets);
    loss.backward();
    vocab_parallel.reset();
    double loss_value = loss.item<double>();
    if (parallel && parallel->dp) {
      average_over_dp(params, *parallel->dp);
      loss_value = dtensor::comm::all_reduce(at::full({1}, loss_value, at::kDouble), dtensor::comm::ReduceOp::Avg,
                                             parallel->dp->get_group()).item<double>();
    }
    // dtensor's version: without sequence parallel, plain norm weights sit beside DTensors.
    if (o.clip > 0) dtensor::nn::utils::clip_grad_norm_(params, o.clip);
    opt.step();
    opt.zero_grad();
    result.losses.push_back(loss_value);
    if (report && (step % o.log_interval == 0 || step == o.steps)) {
      const double seconds = std::chrono::duration<double>(Clock::now() - interval_start).count();
      const int steps_in_interval = step % o.log_interval == 0 ? o.log_interval : step % o.log_interval;
      // Peak memory of every rank (a collective: every rank reports at the same steps).
      auto mine = at::full({1}, peak_rss_mib(), at::kDouble);
      auto all = parallel ? dtensor::comm::all_gather(mine, 0, parallel->world.get_group()) : mine;
      std::string mem;
      for (int64_t r = 0; r < all.size(0); ++r) mem += (r ? "/" : "") + std::to_string(static_cast<int>(all[r].item<double>()));
      if (dtensor::get_rank() == 0) {
        std::printf("%s step %4d/%d  loss %.4f  %8.0f tokens/s  peak MiB/rank %s  collectives/step: %s\n",
                    progress_bar(step, o.steps).c_str(), step, o.steps, result.losses.back(),
                    tokens_per_step * steps_in_interval / seconds, mem.c_str(),
                    short_counts(comm->get_comm_counts(), steps_in_interval).c_str());
        std::fflush(stdout);
      }
      comm.emplace();
      interval_start = Clock::now();
    }
  }
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app("Train a Llama-style model in tensor parallel and check it against a single process");
  app.add_option("--model", o.model, "tiny | small | medium | large")->capture_default_str();
  app.add_option("--backend", o.backend, "gloo | mpi (default: $DTENSOR_BACKEND, mpi under mpirun, else gloo)");
  app.add_option("--tp", o.tp, "tensor-parallel degree; the other ranks form data-parallel groups (0: all ranks)")
      ->capture_default_str();
  app.add_option("--steps", o.steps)->capture_default_str();
  app.add_option("--batch", o.batch)->capture_default_str();
  app.add_option("--seq-len", o.seq_len)->capture_default_str();
  app.add_option("--lr", o.lr)->capture_default_str();
  app.add_option("--clip", o.clip, "gradient-norm clipping (0: off)")->capture_default_str();
  app.add_option("--log-interval", o.log_interval)->capture_default_str();
  app.add_option("--seed", o.seed)->capture_default_str();
  app.add_flag("--sequence-parallel,!--no-sequence-parallel", o.sequence_parallel, "shard norms' activations on the sequence")->capture_default_str();
  app.add_flag("--loss-parallel,!--no-loss-parallel", o.loss_parallel, "vocabulary-parallel cross entropy")->capture_default_str();
  app.add_flag("--check,!--no-check", o.check, "compare with a single-process run at the end")->capture_default_str();
  app.add_option("--tolerance", o.tolerance, "max abs difference of losses and parameters")->capture_default_str();
  app.add_option("--save", o.save, "write the trained parameters (unsharded) to this file, for generate_llama");
  CLI11_PARSE(app, argc, argv);

  return report_errors("train_llama", [&] {
    dtensor::InitOptions init;
    init.backend = o.backend;
    dtensor::init_process_group(init);
    const int world = dtensor::get_world_size();
    const bool leader = dtensor::get_rank() == 0;
    auto args = llama::Args::preset(o.model);
    TORCH_CHECK_VALUE(o.seq_len <= args.max_seq_len, "--seq-len ", o.seq_len, " exceeds the model's ", args.max_seq_len);
    const std::string text = make_corpus(1 << 18);
    auto corpus = at::from_blob(const_cast<char*>(text.data()), {static_cast<int64_t>(text.size())}, at::kChar)
                      .to(at::kLong).remainder(256);

    const int tp = o.tp == 0 ? world : o.tp;
    TORCH_CHECK_VALUE(tp > 0 && world % tp == 0, "--tp ", o.tp, " must divide the number of processes (", world, ")");
    const int dp = world / tp;
    TORCH_CHECK_VALUE(o.batch % dp == 0, "--batch ", o.batch, " must divide over the ", dp, " data-parallel groups");
    const auto all_ranks = dtensor::init_device_mesh("cpu", {world}, {"tp"});  // also the tp mesh when dp == 1
    Parallel parallel{all_ranks, all_ranks, {}};
    if (dp > 1) {
      auto mesh = dtensor::init_device_mesh("cpu", {dp, tp}, {"dp", "tp"});
      parallel.tp = mesh["tp"];
      parallel.dp = mesh["dp"];
    }
    torch::manual_seed(o.seed);
    llama::Transformer model(args);
    llama::parallelize(model, parallel.tp, {o.sequence_parallel, o.loss_parallel});
    if (leader) {
      int64_t params = 0;
      for (const auto& p : unique_parameters(*model)) params += p.numel();
      std::printf("llama-%s: %lld parameters, tp=%d dp=%d (%s), sequence parallel %s, loss parallel %s, "
                  "batch %d x %d tokens\n", o.model.c_str(), static_cast<long long>(params), tp, dp,
                  dtensor::get_backend().c_str(), o.sequence_parallel ? "on" : "off", o.loss_parallel ? "on" : "off",
                  o.batch, o.seq_len);
    }
    const auto start = Clock::now();
    auto tp_run = train(model, parallel, o, corpus, true);
    const double tp_seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (leader) std::printf("tensor-parallel training: %.1f s, loss %.4f -> %.4f\n", tp_seconds, tp_run.losses.front(), tp_run.losses.back());

    if (!o.save.empty()) {
      llama::save_checkpoint(model, o.save);
      if (leader) std::printf("saved the trained parameters to %s\n", o.save.c_str());
    }

    int status = 0;
    if (o.check) {
      // Gather the TP parameters (collective), then rank 0 replays the run on one process.
      std::map<std::string, at::Tensor> gathered;
      for (const auto& p : model->named_parameters())
        gathered[p.key()] = dtensor::is_dtensor(p.value()) ? dtensor::DTensor(p.value()).full_tensor() : p.value().detach();
      if (leader) {
        torch::manual_seed(o.seed);
        llama::Transformer reference(args);
        const auto ref_start = Clock::now();
        auto ref_run = train(reference, std::nullopt, o, corpus, false);
        const double ref_seconds = std::chrono::duration<double>(Clock::now() - ref_start).count();
        // The single run uses this rank's intra-op threads: the same cores per process as each rank.
        std::printf("single-process training (same seed, for the check): %.1f s; %d processes ran %.2fx its speed%s\n",
                    ref_seconds, world, ref_seconds / tp_seconds,
                    ref_seconds < 1.3 * tp_seconds && dtensor::get_backend() == "gloo"
                        ? " (small steps are latency-bound on Gloo; MPI under mpirun, a larger --batch or "
                          "--model medium run faster)"
                        : "");
        double loss_diff = 0, param_diff = 0;
        for (size_t i = 0; i < ref_run.losses.size(); ++i)
          loss_diff = std::max(loss_diff, std::abs(ref_run.losses[i] - tp_run.losses[i]));
        for (const auto& p : reference->named_parameters())
          param_diff = std::max(param_diff, (p.value() - gathered.at(p.key())).abs().max().item<double>());
        const bool match = loss_diff <= o.tolerance && param_diff <= o.tolerance;
        std::printf("check against single process (same seed, %d steps): max |loss diff| %.2e, max |param diff| "
                    "%.2e, tolerance %.0e: %s\n", o.steps, loss_diff, param_diff, o.tolerance,
                    match ? "MATCH" : "MISMATCH");
        status = match ? 0 : 1;
      }
      auto verdict = dtensor::comm::broadcast(at::full({1}, status, at::kInt), 0, parallel.world.get_group());
      status = verdict.item<int>();
    }
    dtensor::destroy_process_group();
    return status;
  });
}
