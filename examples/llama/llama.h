// A Llama-style decoder written as a libtorch user would, with dtensor::nn hookable layers, and its
// tensor-parallel plan in the torchtitan style. The whole model and plan are in llama.cpp.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <torch/nn/modules/container/modulelist.h>

#include <dtensor/dtensor.h>

namespace llama {

struct Args {
  int64_t dim = 256;
  int64_t n_layers = 4;
  int64_t n_heads = 8;
  int64_t n_kv_heads = 4;       // grouped-query attention: n_heads / n_kv_heads queries per key
  int64_t vocab_size = 256;     // byte-level tokens
  int64_t ffn_hidden = 704;     // SwiGLU hidden size
  int64_t max_seq_len = 256;
  double norm_eps = 1e-5;
  double rope_theta = 10000.0;
  int64_t head_dim() const { return dim / n_heads; }
  // "tiny" (CI-sized), "small", "medium", "large" (compute-bound on CPU).
  static Args preset(const std::string& name);
};

// Per-layer key/value cache for generation, holding this rank's heads.
struct KVCache {
  at::Tensor k, v;  // [batch, max_seq_len, local kv heads, head_dim]
};

struct AttentionImpl : torch::nn::Module {
  explicit AttentionImpl(const Args& args);
  // x: [batch, seq, dim]; positions start at `start_pos`; with a cache, keys/values are appended.
  at::Tensor forward(const at::Tensor& x, int64_t start_pos, KVCache* cache);
  Args args;
  dtensor::nn::Linear wq{nullptr}, wk{nullptr}, wv{nullptr}, wo{nullptr};
};
DTENSOR_MODULE(Attention);

struct FeedForwardImpl : torch::nn::Module {
  explicit FeedForwardImpl(const Args& args);
  at::Tensor forward(const at::Tensor& x);  // w2(silu(w1 x) * w3 x)
  dtensor::nn::Linear w1{nullptr}, w2{nullptr}, w3{nullptr};
};
DTENSOR_MODULE(FeedForward);

struct BlockImpl : torch::nn::Module {
  explicit BlockImpl(const Args& args);
  at::Tensor forward(const at::Tensor& x, int64_t start_pos, KVCache* cache);
  dtensor::nn::RMSNorm attention_norm{nullptr}, ffn_norm{nullptr};
  Attention attention{nullptr};
  FeedForward feed_forward{nullptr};
};
DTENSOR_MODULE(Block);

struct TransformerImpl : torch::nn::Module {
  explicit TransformerImpl(const Args& args);
  // tokens: [batch, seq] int64 -> logits [batch, seq, vocab] (a DTensor sharded on the vocab under
  // a loss-parallel plan). `caches` (one per layer) enables incremental decoding.
  at::Tensor forward(const at::Tensor& tokens, int64_t start_pos = 0, std::vector<KVCache>* caches = nullptr);
  std::vector<KVCache> make_caches(int64_t batch) const;
  Args args;
  dtensor::nn::Embedding tok_embeddings{nullptr};
  torch::nn::ModuleList layers{nullptr};
  dtensor::nn::RMSNorm norm{nullptr};
  dtensor::nn::Linear output{nullptr};
};
DTENSOR_MODULE(Transformer);

struct PlanOptions {
  bool sequence_parallel = true;
  bool loss_parallel = true;  // logits stay vocab-sharded for dtensor::parallel::loss_parallel
};

// Tensor parallelism on a 1-D mesh, torchtitan style:
//   tok_embeddings  RowwiseParallel, vocab rows sharded; output Shard(1) (sequence) with SP
//   attention       PrepareModuleInput gathers the sequence (or marks the replicated input once)
//   wq, wk, wv      ColwiseParallel (heads sharded; attention runs on local heads)
//   wo              RowwiseParallel, output reduce-scattered to Shard(1) with SP, all-reduced without
//   feed_forward    PrepareModuleInput as attention; w1, w3 Colwise; w2 Rowwise
//   norms           SequenceParallel (with SP)
//   output          ColwiseParallel, logits sharded on the vocab (loss_parallel) or replicated
// Collectives per layer and step equal Megatron's minimum: with SP 2 all_gathers and 2
// reduce_scatters each way; without, 2 all_reduces each way.
void parallelize(Transformer& model, const dtensor::DeviceMesh& mesh, const PlanOptions& options);
// The per-block entries of parallelize's plan, keys relative to a Block; parallelize applies them
// under "layers.*.". For parallelizing a lone Block (bench/tp_vs_megatron.cpp).
dtensor::parallel::ParallelizePlan block_plan(const PlanOptions& options);

// Checkpoints hold the full (unsharded) parameters by name, so a run of any tp degree can load
// them. save_checkpoint is collective over the parameters' meshes (it gathers shards); rank 0
// writes. load_checkpoint reads into a model that is not parallelized yet.
void save_checkpoint(Transformer& model, const std::string& path);
void load_checkpoint(Transformer& model, const std::string& path);

// Cross entropy over next-token targets: logits [b, s, vocab], targets [b, s].
at::Tensor loss(const at::Tensor& logits, const at::Tensor& targets);

}  // namespace llama
