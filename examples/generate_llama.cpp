// Generates text with the Llama-style model in tensor parallel, with a KV cache sharded by heads,
// and checks the tokens against single-process generation from the same parameters.
//
//   dtensor-run --nproc-per-node 2 ./train_llama --save llama.pt     # optional: a trained model
//   dtensor-run --nproc-per-node 2 ./generate_llama --load llama.pt --prompt "the cat "
//
// Inference plan: no sequence parallelism (decoding feeds one token at a time) and replicated
// logits (each rank samples the same token from the same values): per layer, one all_reduce after
// attention and one after the feed-forward block, plus one all_reduce for the embedding and one
// all_gather for the logits per forward. Each rank keeps keys and values of its own KV heads only.
// Sampling is greedy (--temperature 0) or from softmax(logits / temperature) with a generator
// seeded identically on every rank.
#include <chrono>
#include <optional>
#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <c10/core/InferenceMode.h>

#include "llama/llama.h"
#include "demo_util.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string model = "small";
  std::string backend;
  std::string load;
  std::string prompt = "the old sailor ";
  int max_new_tokens = 64;
  double temperature = 0.0;
  uint64_t seed = 0;
  bool check = true;
};

struct Generation {
  std::vector<int64_t> tokens;
  double prefill_seconds = 0, decode_seconds = 0;
  std::string collectives_per_token;  // over the decode steps
};

int64_t sample(const at::Tensor& logits, double temperature, at::Generator& gen) {
  if (temperature <= 0) return logits.argmax(-1).item<int64_t>();
  auto probs = at::softmax(logits.to(at::kDouble) / temperature, -1);
  return at::multinomial(probs, 1, false, gen).item<int64_t>();
}

Generation generate(llama::Transformer& model, const std::vector<int64_t>& prompt, const Options& o) {
  c10::InferenceMode inference;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(o.seed);
  auto caches = model->make_caches(1);
  std::optional<dtensor::debug::CommDebugMode> comm;  // counts the decode steps
  Generation out;
  auto start = Clock::now();
  auto input = at::tensor(prompt, at::kLong).view({1, -1});
  int64_t pos = 0;
  for (int i = 0; i < o.max_new_tokens && pos + input.size(1) <= model->args.max_seq_len; ++i) {
    auto logits = model(input, pos, &caches);
    pos += input.size(1);
    const int64_t next = sample(logits[0][-1], o.temperature, gen);
    out.tokens.push_back(next);
    input = at::full({1, 1}, next, at::kLong);
    if (i == 0) {
      out.prefill_seconds = std::chrono::duration<double>(Clock::now() - start).count();
      comm.emplace();
      start = Clock::now();
    }
  }
  out.decode_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (comm) out.collectives_per_token = short_counts(comm->get_comm_counts(), static_cast<int64_t>(out.tokens.size()) - 1);
  return out;
}

std::string printable(const std::vector<int64_t>& tokens) {
  std::string s;
  for (int64_t t : tokens) s += (t >= 32 && t < 127) ? static_cast<char>(t) : '?';
  return s;
}

llama::Transformer build(const llama::Args& args, const Options& o) {
  torch::manual_seed(o.seed);
  llama::Transformer model(args);
  if (!o.load.empty()) llama::load_checkpoint(model, o.load);
  return model;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app("Generate text with the Llama-style model in tensor parallel");
  app.add_option("--model", o.model, "tiny | small | medium | large (must match --load)")->capture_default_str();
  app.add_option("--backend", o.backend, "gloo | mpi (default: $DTENSOR_BACKEND, mpi under mpirun, else gloo)");
  app.add_option("--load", o.load, "parameters written by train_llama --save (default: random initialization)");
  app.add_option("--prompt", o.prompt)->capture_default_str();
  app.add_option("--max-new-tokens", o.max_new_tokens)->capture_default_str();
  app.add_option("--temperature", o.temperature, "0: greedy")->capture_default_str();
  app.add_option("--seed", o.seed, "initialization (without --load) and sampling seed")->capture_default_str();
  app.add_flag("--check,!--no-check", o.check, "compare with single-process generation")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  return report_errors("generate_llama", [&] {
    dtensor::InitOptions init;
    init.backend = o.backend;
    dtensor::init_process_group(init);
    const bool leader = dtensor::get_rank() == 0;
    const auto args = llama::Args::preset(o.model);
    std::vector<int64_t> prompt(o.prompt.begin(), o.prompt.end());
    TORCH_CHECK_VALUE(!prompt.empty(), "--prompt must not be empty");

    auto mesh = dtensor::init_device_mesh("cpu", {dtensor::get_world_size()}, {"tp"});
    auto model = build(args, o);
    llama::parallelize(model, mesh, {/*sequence_parallel=*/false, /*loss_parallel=*/false});
    auto tp = generate(model, prompt, o);
    if (leader) {
      std::printf("prompt: \"%s\"\ntp=%lld (%s): \"%s\"\n  prefill %.1f ms, decode %.1f tokens/s, collectives/token: %s\n",
                  o.prompt.c_str(), static_cast<long long>(mesh.size()), dtensor::get_backend().c_str(),
                  printable(tp.tokens).c_str(), tp.prefill_seconds * 1e3,
                  (tp.tokens.size() - 1) / std::max(tp.decode_seconds, 1e-9), tp.collectives_per_token.c_str());
    }
    int status = 0;
    if (o.check && leader) {
      auto reference = build(args, o);
      auto single = generate(reference, prompt, o);
      const bool same = single.tokens == tp.tokens;
      std::printf("single process: \"%s\"\n  prefill %.1f ms, decode %.1f tokens/s\n%s\n",
                  printable(single.tokens).c_str(), single.prefill_seconds * 1e3,
                  (single.tokens.size() - 1) / std::max(single.decode_seconds, 1e-9),
                  same ? "MATCH: the same tokens as single-process generation"
                       : "MISMATCH: tokens differ from single-process generation");
      status = same ? 0 : 1;
    }
    if (o.check) status = dtensor::comm::broadcast(at::full({1}, status, at::kInt), 0, mesh.get_group()).item<int>();
    dtensor::destroy_process_group();
    return status;
  });
}
