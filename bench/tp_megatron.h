// Hand-written Megatron-LM tensor parallelism: the baseline of bench_tp (tp_vs_megatron.cpp).
//
// Plain local weight shards and four explicit autograd functions on one tensor-parallel group,
// as in Megatron-LM's mappings.py (Shoeybi et al. 2019; sequence parallel: Korthikanti et al.
// 2022), with the sequence on dim 1 ([batch, seq, hidden]; Megatron puts it first):
//   copy_to_tp            f   forward identity,                  backward all_reduce
//   reduce_from_tp        g   forward all_reduce,                backward identity
//   gather_from_sp        f~  forward all_gather(seq),           backward reduce_scatter(seq)
//   reduce_scatter_to_sp  g~  forward reduce_scatter(seq),       backward all_gather(seq)
// A transformer half (attention or MLP) is  leave(column-parallel ... row-parallel(enter(x))):
// enter = f (f~ with SP), leave = g (g~ with SP); norms run before `enter` on the replicated
// (or, with SP, sequence-sharded) activations. Every collective goes through dtensor::comm on the
// same process group the DTensor path uses, so the two paths differ only in what runs around the
// collectives. The gathered input of a column-parallel linear is kept for backward (no re-gather),
// the same choice the DTensor path makes.
#pragma once

#include <cmath>
#include <limits>
#include <vector>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include <dtensor/comm.h>

namespace bench::megatron {

namespace comm = dtensor::comm;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Megatron's get_tensor_model_parallel_group(): one global group, set once before use.
inline comm::Group& tp_group() {
  static comm::Group group;
  return group;
}

constexpr int64_t kSeqDim = 1;

// How the hand-written code waits for its collectives. A blocking dtensor::comm call on MPI is the
// blocking MPI call, in which Open MPI busy-polls while the peers are late; the *_async form's
// wait() spins ~50 us, then yields, then sleeps, giving the core away (which matters when ranks
// share cores with each other or with other work). The DTensor path waits the async way: its
// parallel styles issue forward redistributions async, and autograd's backward redistributions
// issue-then-wait too.
enum class Wait {
  Blocking,  // every collective blocking (the plain transcription of Megatron's mappings)
  Async,     // every collective async-then-wait: the DTensor path's pattern
};

inline at::Tensor all_reduce(const at::Tensor& x, bool async) {
  return async ? comm::all_reduce_async(x, comm::ReduceOp::Sum, tp_group()).wait()
               : comm::all_reduce(x, comm::ReduceOp::Sum, tp_group());
}
inline at::Tensor all_gather(const at::Tensor& x, bool async) {
  return async ? comm::all_gather_async(x, kSeqDim, tp_group()).wait() : comm::all_gather(x, kSeqDim, tp_group());
}
inline at::Tensor reduce_scatter(const at::Tensor& x, bool async) {
  return async ? comm::reduce_scatter_async(x, kSeqDim, comm::ReduceOp::Sum, tp_group()).wait()
               : comm::reduce_scatter(x, kSeqDim, comm::ReduceOp::Sum, tp_group());
}

// The four mappings. The wait mode rides along in the context for backward; backward returns no
// gradient for it.
inline Wait saved_wait(AutogradContext* ctx) { return static_cast<Wait>(ctx->saved_data["wait"].toInt()); }

struct CopyToTP : torch::autograd::Function<CopyToTP> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, Wait w) {
    ctx->saved_data["wait"] = static_cast<int64_t>(w);
    return x;
  }
  static variable_list backward(AutogradContext* ctx, variable_list g) {
    return {all_reduce(g[0], saved_wait(ctx) == Wait::Async), at::Tensor()};
  }
};

struct ReduceFromTP : torch::autograd::Function<ReduceFromTP> {
  static at::Tensor forward(AutogradContext*, const at::Tensor& x, Wait w) { return all_reduce(x, w == Wait::Async); }
  static variable_list backward(AutogradContext*, variable_list g) { return {g[0], at::Tensor()}; }
};

struct GatherFromSP : torch::autograd::Function<GatherFromSP> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, Wait w) {
    ctx->saved_data["wait"] = static_cast<int64_t>(w);
    return all_gather(x, w == Wait::Async);
  }
  static variable_list backward(AutogradContext* ctx, variable_list g) {
    return {reduce_scatter(g[0], saved_wait(ctx) == Wait::Async), at::Tensor()};
  }
};

struct ReduceScatterToSP : torch::autograd::Function<ReduceScatterToSP> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, Wait w) {
    ctx->saved_data["wait"] = static_cast<int64_t>(w);
    return reduce_scatter(x, w == Wait::Async);
  }
  static variable_list backward(AutogradContext* ctx, variable_list g) {
    return {all_gather(g[0], saved_wait(ctx) == Wait::Async), at::Tensor()};
  }
};

// Into a tensor-parallel region (before column-parallel linears) and out of it (after the
// row-parallel one).
inline at::Tensor enter(const at::Tensor& x, bool sp, Wait w) {
  return sp ? GatherFromSP::apply(x, w) : CopyToTP::apply(x, w);
}
inline at::Tensor leave(const at::Tensor& x, bool sp, Wait w) {
  return sp ? ReduceScatterToSP::apply(x, w) : ReduceFromTP::apply(x, w);
}

// As dtensor::nn::RMSNorm computes it (sum / dim: see src/nn/rmsnorm.cpp).
inline at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  const auto mean_square = x.pow(2).sum(-1, /*keepdim=*/true).div(static_cast<double>(x.size(-1)));
  return x * at::rsqrt(mean_square + eps) * weight;
}

// Rotary embedding of [b, s, heads, head_dim] at positions 0..s-1: each (even, odd) feature pair
// rotated by position * theta^(-2i/head_dim).
inline at::Tensor rope(const at::Tensor& x, double theta) {
  const int64_t s = x.size(1), hd = x.size(3);
  auto inv_freq = at::pow(theta, -at::arange(0, hd, 2, at::kDouble) / static_cast<double>(hd));
  auto angles = at::outer(at::arange(s, at::kDouble), inv_freq).to(x.scalar_type());
  auto cos = angles.cos().view({1, s, 1, hd / 2}), sin = angles.sin().view({1, s, 1, hd / 2});
  auto pairs = x.view({x.size(0), s, x.size(2), hd / 2, 2});
  auto even = pairs.select(-1, 0), odd = pairs.select(-1, 1);
  return at::stack({even * cos - odd * sin, even * sin + odd * cos}, -1).flatten(3);
}

// One Llama block on this rank's shards: q/k/v and w1/w3 hold this rank's rows (heads / hidden
// units), wo and w2 its columns; the norm weights are whole.
struct Block {
  at::Tensor attention_norm, wq, wk, wv, wo, ffn_norm, w1, w2, w3;  // leaves requiring grad
  int64_t head_dim = 0;
  double eps = 1e-5, theta = 1e4;
  bool sp = false;
  Wait wait = Wait::Blocking;

  std::vector<at::Tensor> parameters() const { return {attention_norm, wq, wk, wv, wo, ffn_norm, w1, w2, w3}; }

  // Causal grouped-query attention on the local heads; x is the gathered/replicated input.
  at::Tensor attention(const at::Tensor& x) const {
    const int64_t b = x.size(0), s = x.size(1);
    auto q = rope(at::linear(x, wq).view({b, s, -1, head_dim}), theta);
    auto k = rope(at::linear(x, wk).view({b, s, -1, head_dim}), theta);
    auto v = at::linear(x, wv).view({b, s, -1, head_dim});
    const int64_t rep = q.size(2) / k.size(2);
    k = k.repeat_interleave(rep, 2).transpose(1, 2);
    v = v.repeat_interleave(rep, 2).transpose(1, 2);
    q = q.transpose(1, 2);
    auto scores = at::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(head_dim));
    auto future = at::ones({s, s}, at::TensorOptions().dtype(at::kBool)).triu(1);
    scores = scores.masked_fill(future, -std::numeric_limits<double>::infinity());
    auto out = at::matmul(at::softmax(scores, -1), v).transpose(1, 2).reshape({b, s, -1});
    return at::linear(out, wo);
  }

  at::Tensor feed_forward(const at::Tensor& x) const {
    return at::linear(at::silu(at::linear(x, w1)) * at::linear(x, w3), w2);
  }

  // x: [b, s, dim] (replicated), or [b, s / tp, dim] (this rank's sequence piece) with SP.
  at::Tensor forward(const at::Tensor& x) const {
    auto h = x + leave(attention(enter(rms_norm(x, attention_norm, eps), sp, wait)), sp, wait);
    return h + leave(feed_forward(enter(rms_norm(h, ffn_norm, eps), sp, wait)), sp, wait);
  }
};

// Linear(d, 4d) -> GELU -> Linear(4d, d): w1/b1 this rank's rows, w2 its columns; b2 whole,
// added once after the reduction.
struct MLP {
  at::Tensor w1, b1, w2, b2;
  bool sp = false;
  Wait wait = Wait::Blocking;

  std::vector<at::Tensor> parameters() const { return {w1, b1, w2, b2}; }
  at::Tensor forward(const at::Tensor& x) const {
    return leave(at::linear(at::gelu(at::linear(enter(x, sp, wait), w1, b1)), w2), sp, wait) + b2;
  }
};

}  // namespace bench::megatron
