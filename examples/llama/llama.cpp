// The Llama-style decoder and its tensor-parallel plan (see llama.h).
//
// The model is ordinary libtorch code. Under tensor parallelism the q/k/v projections return this
// rank's heads as plain local tensors (ColwiseParallel's default use_local_output), so attention
// with rotary embeddings, grouped KV heads and the KV cache runs unchanged on the local heads; the
// residual stream is a plain tensor holding this rank's piece of the sequence (sequence parallel)
// or the whole activations.
#include "llama/llama.h"

#include <cmath>

#include <torch/nn/functional/activation.h>
#include <torch/nn/functional/loss.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

namespace llama {
namespace tp = dtensor::parallel;
using dtensor::Placement;
using dtensor::Replicate;
using dtensor::Shard;

Args Args::preset(const std::string& name) {
  Args a;
  if (name == "tiny") {
    a.dim = 128, a.n_layers = 2, a.n_heads = 4, a.n_kv_heads = 4, a.ffn_hidden = 352, a.max_seq_len = 128;
  } else if (name == "small") {
    a.dim = 256, a.n_layers = 4, a.n_heads = 8, a.n_kv_heads = 4, a.ffn_hidden = 704;
  } else if (name == "medium") {
    a.dim = 512, a.n_layers = 6, a.n_heads = 8, a.n_kv_heads = 4, a.ffn_hidden = 1408;
  } else if (name == "large") {
    a.dim = 1024, a.n_layers = 8, a.n_heads = 16, a.n_kv_heads = 8, a.ffn_hidden = 2816, a.max_seq_len = 512;
  } else {
    TORCH_CHECK_VALUE(false, "unknown model size '", name, "': expected tiny, small, medium or large");
  }
  return a;
}

namespace {

// Rotary position embedding: rotates each (even, odd) pair of a head's features by the angle
// position * theta^(-2i/head_dim).
at::Tensor rotate(const at::Tensor& x, int64_t start_pos, double theta) {
  const int64_t s = x.size(1), hd = x.size(3);
  auto inv_freq = at::pow(theta, -at::arange(0, hd, 2, at::kDouble) / static_cast<double>(hd));
  auto angles = at::outer(at::arange(start_pos, start_pos + s, at::kDouble), inv_freq).to(x.scalar_type());
  auto cos = angles.cos().view({1, s, 1, hd / 2}), sin = angles.sin().view({1, s, 1, hd / 2});
  auto pairs = x.view({x.size(0), s, x.size(2), hd / 2, 2});
  auto even = pairs.select(-1, 0), odd = pairs.select(-1, 1);
  return at::stack({even * cos - odd * sin, even * sin + odd * cos}, -1).flatten(3);
}

}  // namespace

AttentionImpl::AttentionImpl(const Args& a) : args(a) {
  const int64_t hd = a.head_dim();
  auto linear = [](int64_t in, int64_t out) { return dtensor::nn::Linear(torch::nn::LinearOptions(in, out).bias(false)); };
  wq = register_module("wq", linear(a.dim, a.n_heads * hd));
  wk = register_module("wk", linear(a.dim, a.n_kv_heads * hd));
  wv = register_module("wv", linear(a.dim, a.n_kv_heads * hd));
  wo = register_module("wo", linear(a.n_heads * hd, a.dim));
}

at::Tensor AttentionImpl::forward(const at::Tensor& x, int64_t start_pos, KVCache* cache) {
  const int64_t b = x.size(0), s = x.size(1), hd = args.head_dim();
  // [b, s, heads, head_dim]; under tensor parallelism "heads" are this rank's heads.
  auto q = rotate(wq(x).view({b, s, -1, hd}), start_pos, args.rope_theta);
  auto k = rotate(wk(x).view({b, s, -1, hd}), start_pos, args.rope_theta);
  auto v = wv(x).view({b, s, -1, hd});
  if (cache != nullptr) {
    cache->k.narrow(1, start_pos, s).copy_(k);
    cache->v.narrow(1, start_pos, s).copy_(v);
    k = cache->k.narrow(1, 0, start_pos + s);
    v = cache->v.narrow(1, 0, start_pos + s);
  }
  const int64_t rep = q.size(2) / k.size(2);  // grouped-query attention
  k = k.repeat_interleave(rep, 2).transpose(1, 2);
  v = v.repeat_interleave(rep, 2).transpose(1, 2);
  q = q.transpose(1, 2);  // [b, heads, s, head_dim]
  auto scores = at::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(hd));
  if (s > 1) {
    // Query i (position start_pos + i) sees keys up to its own position.
    auto future = at::ones({s, k.size(2)}, at::TensorOptions().dtype(at::kBool)).triu(start_pos + 1);
    scores = scores.masked_fill(future, -std::numeric_limits<double>::infinity());
  }
  auto out = at::matmul(at::softmax(scores, -1), v).transpose(1, 2).reshape({b, s, -1});
  return wo(out);
}

FeedForwardImpl::FeedForwardImpl(const Args& a) {
  auto linear = [](int64_t in, int64_t out) { return dtensor::nn::Linear(torch::nn::LinearOptions(in, out).bias(false)); };
  w1 = register_module("w1", linear(a.dim, a.ffn_hidden));
  w2 = register_module("w2", linear(a.ffn_hidden, a.dim));
  w3 = register_module("w3", linear(a.dim, a.ffn_hidden));
}

at::Tensor FeedForwardImpl::forward(const at::Tensor& x) { return w2(torch::silu(w1(x)) * w3(x)); }

BlockImpl::BlockImpl(const Args& a) {
  attention_norm = register_module("attention_norm", dtensor::nn::RMSNorm(a.dim, a.norm_eps));
  attention = register_module("attention", Attention(a));
  ffn_norm = register_module("ffn_norm", dtensor::nn::RMSNorm(a.dim, a.norm_eps));
  feed_forward = register_module("feed_forward", FeedForward(a));
}

at::Tensor BlockImpl::forward(const at::Tensor& x, int64_t start_pos, KVCache* cache) {
  auto h = x + attention(attention_norm(x), start_pos, cache);
  return h + feed_forward(ffn_norm(h));
}

TransformerImpl::TransformerImpl(const Args& a) : args(a) {
  tok_embeddings = register_module("tok_embeddings", dtensor::nn::Embedding(a.vocab_size, a.dim));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < a.n_layers; ++i) layers->push_back(Block(a));
  norm = register_module("norm", dtensor::nn::RMSNorm(a.dim, a.norm_eps));
  output = register_module("output", dtensor::nn::Linear(torch::nn::LinearOptions(a.dim, a.vocab_size).bias(false)));
}

at::Tensor TransformerImpl::forward(const at::Tensor& tokens, int64_t start_pos, std::vector<KVCache>* caches) {
  auto h = tok_embeddings(tokens);
  for (size_t i = 0; i < layers->size(); ++i) {
    Block block(layers->ptr<BlockImpl>(i));
    h = block(h, start_pos, caches ? &(*caches)[i] : nullptr);
  }
  return output(norm(h));
}

std::vector<KVCache> TransformerImpl::make_caches(int64_t batch) const {
  std::vector<KVCache> caches;
  for (size_t i = 0; i < layers->size(); ++i) {
    // This rank's key/value heads: the rows of its wk shard.
    const auto& wk = layers->ptr<BlockImpl>(i)->attention->wk->weight;
    const at::Tensor& rows = dtensor::is_dtensor(wk) ? dtensor::DTensor(wk).local_tensor() : wk;
    const int64_t kv_heads = rows.size(0) / args.head_dim();
    auto shape = std::vector<int64_t>{batch, args.max_seq_len, kv_heads, args.head_dim()};
    caches.push_back({at::zeros(shape), at::zeros(shape)});
  }
  return caches;
}

tp::ParallelizePlan block_plan(const PlanOptions& o) {
  const bool sp = o.sequence_parallel;
  // The residual stream between blocks: this rank's piece of the sequence, or everything.
  const Placement stream = sp ? Placement(Shard(1)) : Placement(Replicate());
  tp::ParallelizePlan plan{
      // Gathers the sequence once per block half, and gives q/k/v (or w1/w3) one shared DTensor
      // input, so their input gradients add up before a single reduction.
      {"attention", tp::PrepareModuleInput().input_layouts({stream}).desired_input_layouts({Replicate()})},
      {"attention.w[qkv]", tp::ColwiseParallel()},
      {"attention.wo", tp::RowwiseParallel().output_layouts(stream)},
      {"feed_forward", tp::PrepareModuleInput().input_layouts({stream}).desired_input_layouts({Replicate()})},
      {"feed_forward.w[13]", tp::ColwiseParallel()},
      {"feed_forward.w2", tp::RowwiseParallel().output_layouts(stream)},
  };
  if (sp) {
    plan.push_back({"attention_norm", tp::SequenceParallel()});
    plan.push_back({"ffn_norm", tp::SequenceParallel()});
  }
  return plan;
}

void parallelize(Transformer& model, const dtensor::DeviceMesh& mesh, const PlanOptions& o) {
  const int64_t n = mesh.size();
  const Args& a = model->args;
  TORCH_CHECK_VALUE(a.n_heads % n == 0 && a.n_kv_heads % n == 0 && a.ffn_hidden % n == 0,
                    "tensor parallel degree ", n, " must divide n_heads (", a.n_heads, "), n_kv_heads (",
                    a.n_kv_heads, ") and ffn_hidden (", a.ffn_hidden, "); the degree is the mesh size, "
                    "e.g. the number of processes (dtensor-run --nproc-per-node)");
  const bool sp = o.sequence_parallel;
  // The residual stream between blocks: this rank's piece of the sequence, or everything.
  const Placement stream = sp ? Placement(Shard(1)) : Placement(Replicate());
  tp::ParallelizePlan plan{
      {"tok_embeddings", tp::RowwiseParallel().input_layouts(Replicate()).output_layouts(stream)},
      {"output", tp::ColwiseParallel()
                     .input_layouts(stream)
                     .output_layouts(o.loss_parallel ? Placement(Shard(-1)) : Placement(Replicate()))
                     .use_local_output(!o.loss_parallel)},
  };
  for (auto& [key, style] : block_plan(o)) plan.emplace_back("layers.*." + key, std::move(style));
  if (sp) plan.push_back({"norm", tp::SequenceParallel()});
  tp::parallelize_module(model, mesh, plan);
}

void save_checkpoint(Transformer& model, const std::string& path) {
  torch::serialize::OutputArchive archive;
  for (const auto& p : model->named_parameters()) {
    archive.write(p.key(), dtensor::is_dtensor(p.value()) ? dtensor::DTensor(p.value()).full_tensor()
                                                          : p.value().detach());
  }
  if (dtensor::get_rank() == 0) archive.save_to(path);
}

void load_checkpoint(Transformer& model, const std::string& path) {
  torch::serialize::InputArchive archive;
  archive.load_from(path);
  at::NoGradGuard no_grad;
  for (auto& p : model->named_parameters()) {
    at::Tensor value;
    archive.read(p.key(), value);
    TORCH_CHECK_VALUE(value.sizes() == p.value().sizes(), "checkpoint ", path, ": parameter ", p.key(), " has shape ",
                      value.sizes(), " but the model's has ", p.value().sizes(), "; pass the --model it was trained with");
    p.value().copy_(value);
  }
}

at::Tensor loss(const at::Tensor& logits, const at::Tensor& targets) {
  return torch::nn::functional::cross_entropy(logits.flatten(0, 1), targets.flatten());
}

}  // namespace llama
