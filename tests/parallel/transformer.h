// PyTorch's test Transformer (common_dtensor.py: ModelArgs, Attention, FeedForward,
// TransformerBlock, Transformer) and its canonical tensor-parallel plan, in C++.
//
// libtorch 1.13 has no scaled_dot_product_attention, so attention is written out. Heads lead the
// layout ([heads, batch, seq, head_dim]) so that the batched matmuls flatten (heads, batch) with
// the sharded heads dim leftmost: a head-sharded attention then needs no communication.
#pragma once

#include <cmath>

#include <torch/nn/functional/activation.h>
#include <torch/nn/functional/dropout.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>

#include <dtensor/dtensor.h>

namespace dtensor::testing {

struct ModelArgs {
  int64_t n_layers = 2, vocab_size = 8, max_seq_len = 16, dim = 16, n_heads = 4;
  double dropout_p = 0.1;
  bool use_attn_mask = true, weight_tying = true;
};

struct AttentionImpl : torch::nn::Module {
  explicit AttentionImpl(const ModelArgs& a) : n_heads(a.n_heads), head_dim(a.dim / a.n_heads), dropout_p(a.dropout_p),
                                              use_attn_mask(a.use_attn_mask) {
    auto opts = torch::nn::LinearOptions(a.dim, a.dim).bias(false);
    wq = register_module("wq", dtensor::nn::Linear(opts));
    wk = register_module("wk", dtensor::nn::Linear(opts));
    wv = register_module("wv", dtensor::nn::Linear(opts));
    wo = register_module("wo", dtensor::nn::Linear(opts));
    resid_dropout = register_module("resid_dropout", dtensor::nn::Dropout(a.dropout_p));
  }
  at::Tensor heads_first(const at::Tensor& t, int64_t b, int64_t s) {
    return t.view({b, s, -1, head_dim}).permute({2, 0, 1, 3});  // [heads, b, s, head_dim]
  }
  at::Tensor forward(const at::Tensor& x) {
    const int64_t b = x.size(0), s = x.size(1);
    auto q = heads_first(wq(x), b, s), k = heads_first(wk(x), b, s), v = heads_first(wv(x), b, s);
    auto scores = at::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(head_dim));
    if (use_attn_mask) {
      // Built from the scores so it lives where they do (a DTensor under tensor parallelism).
      auto future = scores.new_ones({s, s}).triu(1).to(at::kBool);
      scores = scores.masked_fill(future, -std::numeric_limits<double>::infinity());
    }
    auto attn = torch::softmax(scores, -1);
    attn = torch::nn::functional::dropout(attn, torch::nn::functional::DropoutFuncOptions().p(dropout_p).training(is_training()));
    auto out = at::matmul(attn, v).permute({1, 2, 0, 3}).reshape({b, s, -1});
    return resid_dropout(wo(out));
  }
  int64_t n_heads, head_dim;
  double dropout_p;
  bool use_attn_mask;
  dtensor::nn::Linear wq{nullptr}, wk{nullptr}, wv{nullptr}, wo{nullptr};
  dtensor::nn::Dropout resid_dropout{nullptr};
};
DTENSOR_MODULE(Attention);

struct FeedForwardImpl : torch::nn::Module {
  FeedForwardImpl(int64_t dim, int64_t hidden, double p) {
    w1 = register_module("w1", dtensor::nn::Linear(dim, hidden));
    w2 = register_module("w2", dtensor::nn::Linear(hidden, dim));
    resid_dropout = register_module("resid_dropout", dtensor::nn::Dropout(p));
  }
  at::Tensor forward(const at::Tensor& x) { return resid_dropout(w2(torch::gelu(w1(x)))); }
  dtensor::nn::Linear w1{nullptr}, w2{nullptr};
  dtensor::nn::Dropout resid_dropout{nullptr};
};
DTENSOR_MODULE(FeedForward);

struct TransformerBlockImpl : torch::nn::Module {
  explicit TransformerBlockImpl(const ModelArgs& a) {
    attention_norm = register_module("attention_norm", dtensor::nn::LayerNorm(torch::nn::LayerNormOptions({a.dim})));
    attention = register_module("attention", Attention(a));
    ffn_norm = register_module("ffn_norm", dtensor::nn::LayerNorm(torch::nn::LayerNormOptions({a.dim})));
    feed_forward = register_module("feed_forward", FeedForward(a.dim, 4 * a.dim, a.dropout_p));
  }
  at::Tensor forward(const at::Tensor& x) {
    auto h = x + attention(attention_norm(x));
    return h + feed_forward(ffn_norm(h));
  }
  dtensor::nn::LayerNorm attention_norm{nullptr}, ffn_norm{nullptr};
  Attention attention{nullptr};
  FeedForward feed_forward{nullptr};
};
DTENSOR_MODULE(TransformerBlock);

struct TransformerImpl : torch::nn::Module {
  explicit TransformerImpl(const ModelArgs& a) : args(a) {
    tok_embeddings = register_module("tok_embeddings", dtensor::nn::Embedding(a.vocab_size, a.dim));
    pos_embeddings = register_module("pos_embeddings", dtensor::nn::Embedding(a.max_seq_len, a.dim));
    dropout = register_module("dropout", dtensor::nn::Dropout(a.dropout_p));
    layers = register_module("layers", torch::nn::ModuleList());
    for (int64_t i = 0; i < a.n_layers; ++i) layers->push_back(TransformerBlock(a));
    norm = register_module("norm", dtensor::nn::LayerNorm(torch::nn::LayerNormOptions({a.dim})));
    output = register_module("output", dtensor::nn::Linear(torch::nn::LinearOptions(a.dim, a.vocab_size).bias(false)));
    if (a.weight_tying) dtensor::nn::replace_parameter(*output, "weight", tok_embeddings->weight);
  }
  at::Tensor forward(const at::Tensor& tokens) {
    const int64_t s = tokens.size(1);
    auto h = tok_embeddings(tokens) + pos_embeddings(torch::arange(s, torch::kLong));
    h = dropout(h);
    for (auto& layer : *layers) h = TransformerBlock(std::dynamic_pointer_cast<TransformerBlockImpl>(layer))(h);
    return output(norm(h)).to(at::kFloat);
  }
  ModelArgs args;
  dtensor::nn::Embedding tok_embeddings{nullptr}, pos_embeddings{nullptr};
  dtensor::nn::Dropout dropout{nullptr};
  torch::nn::ModuleList layers{nullptr};
  dtensor::nn::LayerNorm norm{nullptr};
  dtensor::nn::Linear output{nullptr};
};
DTENSOR_MODULE(Transformer);

// Transformer.parallelize from common_dtensor.py: the canonical TP (+SP) plan.
inline void parallelize_transformer(Transformer& model, const DeviceMesh& mesh, bool seq_parallel) {
  namespace tp = dtensor::parallel;
  tp::ParallelizePlan plan;
  if (seq_parallel) {
    plan = {{"tok_embeddings", tp::RowwiseParallel().input_layouts(Replicate()).output_layouts(Shard(1))},
            {"pos_embeddings", tp::RowwiseParallel().input_layouts(Replicate()).output_layouts(Shard(0))},
            {"norm", tp::SequenceParallel()},
            {"layers.*.attention", tp::PrepareModuleInput().input_layouts({Shard(1)}).desired_input_layouts({Replicate()})},
            {"layers.*.attention_norm", tp::SequenceParallel()},
            {"layers.*.ffn_norm", tp::SequenceParallel()},
            {"output", tp::ColwiseParallel().input_layouts(Shard(1)).output_layouts(Replicate())}};
  } else {
    plan = {{"tok_embeddings", tp::RowwiseParallel().input_layouts(Replicate()).output_layouts(Replicate())},
            {"pos_embeddings", tp::RowwiseParallel().input_layouts(Replicate()).output_layouts(Replicate())},
            {"output", tp::ColwiseParallel().output_layouts(Replicate())}};
  }
  plan.push_back({"layers.*.attention.w[qkv]", tp::ColwiseParallel().use_local_output(false)});
  plan.push_back({"layers.*.attention.wo", seq_parallel ? tp::RowwiseParallel().output_layouts(Shard(1)) : tp::RowwiseParallel()});
  plan.push_back({"layers.*.feed_forward.w1", seq_parallel ? tp::ColwiseParallel().input_layouts(Shard(1)) : tp::ColwiseParallel()});
  plan.push_back({"layers.*.feed_forward.w2", seq_parallel ? tp::RowwiseParallel().output_layouts(Shard(1)) : tp::RowwiseParallel()});
  tp::parallelize_module(model, mesh, plan);
  // Re-tie: the rowwise embedding and the colwise output both hold the weight as Shard(0).
  if (model->args.weight_tying) dtensor::nn::replace_parameter(*model->output, "weight", model->tok_embeddings->weight);
}

}  // namespace dtensor::testing
