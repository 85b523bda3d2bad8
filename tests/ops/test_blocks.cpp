// Transformer blocks end to end on DTensors: a Llama-style block (RMSNorm from pow/mean/rsqrt,
// q/k/v/o attention with heads from view/transpose, a triu/masked_fill causal mask, softmax,
// SwiGLU MLP, residuals) and a GPT block (LayerNorm, additive -inf mask, GELU MLP, dropout), both
// built from torch::nn::Linear / LayerNorm / Dropout and functional ops. Their parameters are
// replaced by DTensors with Megatron placements set by hand (q/k/v/w1/w3/fc1 Shard(0) on the out
// features, o/w2/fc2 Shard(1), norms and row-parallel biases Replicate), the input is a DTensor,
// and one forward, backward and AdamW step must match the single-process model: values, every
// gradient and every updated parameter. Worlds 2, 3 and 4 (12 heads split evenly; the MLP width
// 40 does not), plus a 2x2 (dp, tp) mesh with the batch sharded over dp.
//
// Dropout draws differ from torch's generator, so the GPT reference is the same block on a
// 1-rank mesh (Replicate everywhere), which the random ops make equal to any sharding of it; with
// p = 0 the GPT block is also checked against plain tensors.
#include <cmath>

#include <dtensor/comm.h>
#include <dtensor/dtensor.h>
#include <dtensor/nn/parameters.h>
#include <torch/nn/functional/activation.h>
#include <torch/nn/functional/dropout.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/optim/adamw.h>

#include "harness/multiprocess.h"

using namespace dtensor;
using dtensor::testing::run_world;

namespace {

constexpr int64_t kBatch = 2, kSeq = 5, kHeads = 12, kHeadDim = 4, kDim = kHeads * kHeadDim, kHidden = 40;
constexpr double kInf = std::numeric_limits<double>::infinity();

torch::nn::Linear linear(int64_t in, int64_t out, bool bias) {
  return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(bias));
}

// [b, s, heads * head_dim] -> [b, heads, s, head_dim]
at::Tensor split_heads(const at::Tensor& t) {
  return t.view({t.size(0), t.size(1), kHeads, kHeadDim}).transpose(1, 2);
}
at::Tensor merge_heads(const at::Tensor& t) {
  return t.transpose(1, 2).reshape({t.size(0), t.size(2), kDim});
}

struct LlamaBlock : torch::nn::Module {
  LlamaBlock() {
    wq = register_module("wq", linear(kDim, kDim, false));
    wk = register_module("wk", linear(kDim, kDim, false));
    wv = register_module("wv", linear(kDim, kDim, false));
    wo = register_module("wo", linear(kDim, kDim, false));
    w1 = register_module("w1", linear(kDim, kHidden, false));
    w2 = register_module("w2", linear(kHidden, kDim, false));
    w3 = register_module("w3", linear(kDim, kHidden, false));
    attn_norm = register_parameter("attn_norm", at::rand({kDim}) + 0.5);
    mlp_norm = register_parameter("mlp_norm", at::rand({kDim}) + 0.5);
    dtensor::nn::bind_parameter(*this, "attn_norm", &attn_norm);
    dtensor::nn::bind_parameter(*this, "mlp_norm", &mlp_norm);
  }
  static at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& w) {
    return x * at::rsqrt(x.pow(2).mean(-1, true) + 1e-6) * w;
  }
  at::Tensor forward(const at::Tensor& x) {
    auto h = rms_norm(x, attn_norm);
    auto q = split_heads(wq(h)), k = split_heads(wk(h)), v = split_heads(wv(h));
    auto scores = at::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(kHeadDim));
    auto future = scores.new_ones({kSeq, kSeq}).triu(1).to(at::kBool);
    scores = scores.masked_fill(future, -kInf);
    auto attn = at::matmul(at::softmax(scores, -1), v);
    auto r = x + wo(merge_heads(attn));
    auto m = rms_norm(r, mlp_norm);
    return r + w2(torch::nn::functional::silu(w1(m)) * w3(m));
  }
  torch::nn::Linear wq{nullptr}, wk{nullptr}, wv{nullptr}, wo{nullptr}, w1{nullptr}, w2{nullptr}, w3{nullptr};
  at::Tensor attn_norm, mlp_norm;
};

struct GptBlock : torch::nn::Module {
  explicit GptBlock(double p) : p(p) {
    auto norm = torch::nn::LayerNormOptions({kDim});
    ln1 = register_module("ln1", torch::nn::LayerNorm(norm));
    ln2 = register_module("ln2", torch::nn::LayerNorm(norm));
    q = register_module("q", linear(kDim, kDim, true));
    // No key bias: softmax ignores it, its gradient is rounding noise whose sign AdamW amplifies
    // to a full step.
    k = register_module("k", linear(kDim, kDim, false));
    v = register_module("v", linear(kDim, kDim, true));
    o = register_module("o", linear(kDim, kDim, true));
    fc1 = register_module("fc1", linear(kDim, kHidden, true));
    fc2 = register_module("fc2", linear(kHidden, kDim, true));
    resid_drop = register_module("resid_drop", torch::nn::Dropout(p));
    mlp_drop = register_module("mlp_drop", torch::nn::Dropout(p));
    // LayerNorm starts at weight 1, bias 0: move them so that their gradients matter.
    torch::NoGradGuard no_grad;
    for (auto& t : {ln1->weight, ln2->weight, ln1->bias, ln2->bias}) t.add_(at::rand({kDim}) * 0.5);
  }
  at::Tensor forward(const at::Tensor& x) {
    namespace F = torch::nn::functional;
    auto h = ln1(x);
    auto scores = at::matmul(split_heads(q(h)), split_heads(k(h)).transpose(-2, -1)) / std::sqrt(static_cast<double>(kHeadDim));
    scores = scores + scores.new_full({kSeq, kSeq}, -kInf).triu(1);
    auto attn = F::dropout(at::softmax(scores, -1), F::DropoutFuncOptions().p(p).training(is_training()));
    auto r = x + resid_drop(o(merge_heads(at::matmul(attn, split_heads(v(h))))));
    return r + mlp_drop(fc2(F::gelu(fc1(ln2(r)))));
  }
  double p;
  torch::nn::LayerNorm ln1{nullptr}, ln2{nullptr};
  torch::nn::Linear q{nullptr}, k{nullptr}, v{nullptr}, o{nullptr}, fc1{nullptr}, fc2{nullptr};
  torch::nn::Dropout resid_drop{nullptr}, mlp_drop{nullptr};
};

// Megatron placements on the tp mesh dim (the last one); other mesh dims replicate parameters.
Placements megatron(const std::string& name, int64_t mesh_ndim) {
  auto ends_with = [&](const char* suffix) {
    const std::string s(suffix);
    return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
  };
  Placement tp = Replicate();
  for (const char* col : {"wq.", "wk.", "wv.", "w1.", "w3.", "q.", "k.", "v.", "fc1."})
    if (name.rfind(col, 0) == 0) tp = Shard(0);  // weight [out, in] and bias [out]
  for (const char* row : {"wo.", "w2.", "o.", "fc2."})
    if (name.rfind(row, 0) == 0 && ends_with("weight")) tp = Shard(1);  // bias stays Replicate
  Placements p(mesh_ndim - 1, Replicate());
  p.push_back(tp);
  return p;
}

// Replaces every parameter of `m` by a DTensor laid out as megatron() says.
void parallelize(torch::nn::Module& m, const DeviceMesh& mesh) {
  for (auto& child : m.named_modules()) {
    for (auto& param : child.value()->named_parameters(/*recurse=*/false)) {
      const std::string full = child.key().empty() ? param.key() : child.key() + "." + param.key();
      auto d = distribute_tensor(param.value().detach(), mesh, megatron(full, mesh.ndim()));
      dtensor::nn::replace_parameter(*child.value(), param.key(), d);
    }
  }
}

// Copies the parameters of `from` into `to` (same architecture).
void copy_parameters(torch::nn::Module& to, torch::nn::Module& from) {
  torch::NoGradGuard no_grad;
  auto src = from.named_parameters();
  for (auto& p : to.named_parameters()) p.value().copy_(src[p.key()]);
}

struct StepResult {
  at::Tensor out;
  std::map<std::string, at::Tensor> grads, params;
};

// One training step: forward, loss = sum(out * upstream), backward, AdamW. Everything is
// returned as full (global) plain tensors.
StepResult train_step(torch::nn::Module& block, const std::function<at::Tensor(const at::Tensor&)>& forward,
                      const at::Tensor& x, const at::Tensor& upstream) {
  auto full = [](const at::Tensor& t) { return is_dtensor(t) ? DTensor(t).full_tensor() : t.detach().clone(); };
  torch::optim::AdamW opt(block.parameters(), torch::optim::AdamWOptions(1e-2).weight_decay(0.1));
  StepResult r;
  auto out = forward(x);
  r.out = full(out);
  // The output may be Partial (row-parallel projections end in P + R); the upstream gradient is
  // laid out like it with Partial read as Replicate.
  auto up = upstream;
  if (is_dtensor(out)) {
    Placements p = DTensor(out).placements();
    for (auto& x : p)
      if (x.is_partial()) x = Replicate();
    up = distribute_tensor(upstream, DTensor(out).device_mesh(), p);
  }
  (out * up).sum().backward();
  for (auto& p : block.named_parameters()) r.grads[p.key()] = full(p.value().grad());
  opt.step();
  for (auto& p : block.named_parameters()) r.params[p.key()] = full(p.value());
  return r;
}

void expect_match(const StepResult& got, const StepResult& want, const std::string& what) {
  auto close = [](const at::Tensor& a, const at::Tensor& b) { return a.sizes() == b.sizes() && at::allclose(a, b, 1e-4, 1e-5); };
  EXPECT_TRUE(close(got.out, want.out)) << what << ": output differs, max "
                                        << (got.out - want.out).abs().max().item<double>();
  for (const auto& [name, g] : want.grads) {
    EXPECT_TRUE(close(got.grads.at(name), g)) << what << ": gradient of " << name << " differs, max "
                                              << (got.grads.at(name) - g).abs().max().item<double>();
    EXPECT_TRUE(close(got.params.at(name), want.params.at(name))) << what << ": updated " << name << " differs";
  }
}

// Rank 0's result, on every rank.
StepResult broadcast_from_rank0(StepResult r) {
  auto bcast = [](at::Tensor& t) { t = comm::broadcast(t.contiguous(), 0, world_group()); };
  bcast(r.out);
  for (auto& [name, t] : r.grads) bcast(t);
  for (auto& [name, t] : r.params) bcast(t);
  return r;
}

// The input: batch-sharded over every mesh dim but tp, replicated over tp.
at::Tensor distribute_input(const at::Tensor& x, const DeviceMesh& mesh) {
  Placements p(mesh.ndim() - 1, Shard(0));
  p.push_back(Replicate());
  return distribute_tensor(x, mesh, p).set_requires_grad(true);
}

void check_llama(const DeviceMesh& mesh) {
  torch::manual_seed(31);
  auto reference = std::make_shared<LlamaBlock>();
  auto block = std::make_shared<LlamaBlock>();
  copy_parameters(*block, *reference);
  auto x = at::randn({kBatch, kSeq, kDim}), upstream = at::randn({kBatch, kSeq, kDim});
  auto want = train_step(*reference, [&](const at::Tensor& t) { return reference->forward(t); },
                         x.clone().requires_grad_(), upstream);
  parallelize(*block, mesh);
  auto got = train_step(*block, [&](const at::Tensor& t) { return block->forward(t); }, distribute_input(x, mesh), upstream);
  expect_match(got, want, "llama block on " + c10::str(mesh));
}

// Returns the block's output (for the caller to see that dropout dropped something).
at::Tensor check_gpt(const DeviceMesh& mesh, double p) {
  torch::manual_seed(32);
  auto reference = std::make_shared<GptBlock>(p);
  auto block = std::make_shared<GptBlock>(p);
  copy_parameters(*block, *reference);
  auto x = at::randn({kBatch, kSeq, kDim}), upstream = at::randn({kBatch, kSeq, kDim});
  const uint64_t seed = 2024;
  StepResult want;
  if (p == 0) {
    want = train_step(*reference, [&](const at::Tensor& t) { return reference->forward(t); },
                      x.clone().requires_grad_(), upstream);
  } else {
    // The single-process model with DTensor's generator: a 1-rank mesh on rank 0.
    DeviceMesh solo("cpu", at::zeros({1}, at::kLong));
    if (get_rank() == 0) {
      for (auto& param : reference->named_parameters()) {
        const auto dot = param.key().rfind('.');
        auto* owner = dot == std::string::npos ? reference.get() : reference->named_modules()[param.key().substr(0, dot)].get();
        dtensor::nn::replace_parameter(*owner, param.key().substr(dot + 1), distribute_tensor(param.value().detach(), solo, {Replicate()}));
      }
      manual_seed(seed, solo);
      want = train_step(*reference, [&](const at::Tensor& t) { return reference->forward(t); },
                        distribute_tensor(x, solo, {Replicate()}).set_requires_grad(true), upstream);
    } else {
      for (auto& param : reference->named_parameters()) {
        want.grads[param.key()] = at::empty_like(param.value());
        want.params[param.key()] = at::empty_like(param.value());
      }
      want.out = at::empty_like(x);
    }
    want = broadcast_from_rank0(want);
  }
  parallelize(*block, mesh);
  manual_seed(seed, mesh);
  auto got = train_step(*block, [&](const at::Tensor& t) { return block->forward(t); }, distribute_input(x, mesh), upstream);
  expect_match(got, want, "gpt block (dropout " + std::to_string(p) + ") on " + c10::str(mesh));
  for (auto& param : block->named_parameters())
    EXPECT_EQ(DTensor(param.value()).placements(), megatron(param.key(), mesh.ndim())) << param.key();
  return got.out;
}

}  // namespace

TEST(Blocks, LlamaMegatronForwardBackwardAdamW) {
  for (int n : {2, 3, 4}) {
    run_world(n, [n](int) {
      check_llama(init_device_mesh("cpu", {n}));
      if (n == 4) check_llama(init_device_mesh("cpu", {2, 2}, {"dp", "tp"}));
    });
  }
}

TEST(Blocks, GptMegatronWithDropoutForwardBackwardAdamW) {
  for (int n : {2, 3, 4}) {
    run_world(n, [n](int) {
      auto kept = check_gpt(init_device_mesh("cpu", {n}), 0.0);
      auto dropped = check_gpt(init_device_mesh("cpu", {n}), 0.2);
      EXPECT_FALSE(at::allclose(kept, dropped)) << "dropout changed nothing";
      if (n == 4) check_gpt(init_device_mesh("cpu", {2, 2}, {"dp", "tp"}), 0.2);
    });
  }
}
