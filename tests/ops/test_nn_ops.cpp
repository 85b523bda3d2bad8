// Normalisation, softmax, losses and embedding on DTensors: values and gradients against plain
// tensors for every input placement (op table) on 1-D worlds of 2, 3 (uneven) and 4 ranks and a
// 2x2 mesh; plus the layouts and collectives of the TP patterns built on them (SequenceParallel
// norms, rowwise embedding).
#include <dtensor/debug/comm_debug_mode.h>
#include <dtensor/dtensor.h>
#include <torch/nn/functional/embedding.h>
#include <torch/nn/functional/loss.h>
#include <torch/nn/functional/normalization.h>

#include "harness/expect.h"
#include "harness/multiprocess.h"
#include "harness/op_check.h"

using namespace dtensor;
using dtensor::testing::check_op;
using dtensor::testing::OpCase;
using dtensor::testing::run_world;
using Tensors = std::vector<at::Tensor>;
namespace F = torch::nn::functional;

namespace {

OpCase make_case(std::string name, Tensors inputs, std::function<at::Tensor(const Tensors&)> f) {
  OpCase c;
  c.name = std::move(name);
  c.inputs = std::move(inputs);
  c.fn = [f](const Tensors& t) { return Tensors{f(t)}; };
  return c;
}

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& w) {
  return x * at::rsqrt(x.pow(2).mean(-1, true) + 1e-6) * w;
}

std::vector<OpCase> norm_softmax_cases() {
  at::manual_seed(21);
  const auto x = at::randn({3, 4, 6}, at::kDouble);
  const auto w = at::randn({6}, at::kDouble), b = at::randn({6}, at::kDouble);
  const auto w2 = at::randn({4, 6}, at::kDouble);
  const auto m = at::randn({5, 6}, at::kDouble);
  return {
      make_case("layer_norm [6] affine", {x, w, b},
                [](const Tensors& t) { return F::layer_norm(t[0], F::LayerNormFuncOptions({6}).weight(t[1]).bias(t[2])); }),
      make_case("layer_norm [6] no affine", {x},
                [](const Tensors& t) { return F::layer_norm(t[0], F::LayerNormFuncOptions({6})); }),
      make_case("layer_norm [4, 6] weight only", {x, w2},
                [](const Tensors& t) { return F::layer_norm(t[0], F::LayerNormFuncOptions({4, 6}).weight(t[1])); }),
      make_case("rms_norm (composite)", {x, w}, [](const Tensors& t) { return rms_norm(t[0], t[1]); }),
      make_case("softmax 1", {m}, [](const Tensors& t) { return at::softmax(t[0], 1); }),
      make_case("softmax 0", {m}, [](const Tensors& t) { return at::softmax(t[0], 0); }),
      make_case("softmax -1 3-D", {x}, [](const Tensors& t) { return at::softmax(t[0], -1); }),
      make_case("log_softmax 1", {m}, [](const Tensors& t) { return at::log_softmax(t[0], 1); }),
      make_case("log_softmax 0 3-D", {x}, [](const Tensors& t) { return at::log_softmax(t[0], 0); }),
      make_case("softmax float->double", {m.to(at::kFloat)}, [](const Tensors& t) { return at::softmax(t[0], 1, at::kDouble); }),
  };
}

// Whether nll_loss with reduction mean must raise: the input's rows (every dim but the class
// dim, which is gathered) split unevenly over the ranks sharding them.
bool uneven_rows(const Placements& input, const std::vector<int64_t>& shape, const DeviceMesh& mesh) {
  for (size_t d = 0; d < shape.size(); ++d) {
    if (d == 1) continue;  // the class dim
    int64_t n = 1;
    for (size_t m = 0; m < input.size(); ++m)
      if (input[m].is_shard(static_cast<int64_t>(d))) n *= mesh.size(static_cast<int64_t>(m));
    if (shape[d] % n != 0) return true;
  }
  return false;
}

std::vector<OpCase> loss_cases() {
  at::manual_seed(22);
  // 6 rows: even over 2 and 3 ranks, uneven over 4 (2, 2, 2, 0).
  const auto logits = at::randn({6, 5}, at::kDouble);
  const auto target = at::tensor({2, 0, 2, 4, 1, 3}, at::kLong);
  // Ignored rows concentrated at the front: ranks see different numbers of them, where a mean of
  // local means would be biased.
  const auto target_ignored = at::tensor({2, 2, 2, 4, 1, 3}, at::kLong);
  const auto class_weight = at::rand({5}, at::kDouble) + 0.5;
  const auto image = at::randn({2, 4, 3, 2}, at::kDouble);  // [N, C, H, W] -> nll_loss2d
  const auto image_target = at::randint(0, 4, {2, 3, 2}, at::kLong);
  const auto seq = at::randn({2, 4, 6}, at::kDouble);  // [N, C, S] -> nll_loss2d through views
  const auto seq_target = at::randint(0, 4, {2, 6}, at::kLong);

  std::vector<OpCase> cases;
  auto add = [&](std::string name, Tensors inputs, std::function<at::Tensor(const Tensors&)> f, bool mean) {
    auto c = make_case(std::move(name), std::move(inputs), std::move(f));
    if (mean) {
      const auto shape = c.inputs[0].sizes().vec();
      c.raises = [shape](const std::vector<Placements>& p, const DeviceMesh& mesh) { return uneven_rows(p[0], shape, mesh); };
    }
    cases.push_back(std::move(c));
  };
  using Reduction = F::CrossEntropyFuncOptions::reduction_t;
  const std::vector<std::pair<std::string, Reduction>> reductions{{"mean", torch::kMean}, {"sum", torch::kSum}, {"none", torch::kNone}};
  for (const auto& [rname, red] : reductions) {
    const bool mean = rname == "mean";
    add("cross_entropy " + rname, {logits, target},
        [red = red](const Tensors& t) { return F::cross_entropy(t[0], t[1], F::CrossEntropyFuncOptions().reduction(red)); }, mean);
    add("cross_entropy weight ignore_index=2 " + rname, {logits, target_ignored, class_weight},
        [red = red](const Tensors& t) {
          return F::cross_entropy(t[0], t[1], F::CrossEntropyFuncOptions().reduction(red).ignore_index(2).weight(t[2].detach()));
        },
        mean);
    add("cross_entropy 4-D (nll_loss2d) " + rname, {image, image_target},
        [red = red](const Tensors& t) { return F::cross_entropy(t[0], t[1], F::CrossEntropyFuncOptions().reduction(red)); }, mean);
  }
  add("cross_entropy 3-D ignore_index=1 mean", {seq, seq_target},
      [](const Tensors& t) { return F::cross_entropy(t[0], t[1], F::CrossEntropyFuncOptions().ignore_index(1)); }, true);
  add("nll_loss (log-probs) sum", {logits.log_softmax(1), target},
      [](const Tensors& t) { return F::nll_loss(t[0], t[1], F::NLLLossFuncOptions().reduction(torch::kSum)); }, false);
  add("nll_loss 1-D input (one sample) mean", {logits[0].log_softmax(0), at::scalar_tensor(3, at::kLong)},
      [](const Tensors& t) { return at::nll_loss(t[0], t[1]); }, false);
  add("nll_loss (log-probs) weight mean", {logits.log_softmax(1), target, class_weight},
      [](const Tensors& t) { return F::nll_loss(t[0], t[1], F::NLLLossFuncOptions().weight(t[2].detach())); }, true);
  return cases;
}

std::vector<OpCase> embedding_cases() {
  at::manual_seed(23);
  // Vocabularies of 13 and 7 rows split unevenly over 2, 3 and 4 ranks (13 over 4: 4, 4, 4, 1).
  const auto weight = at::randn({13, 5}, at::kDouble);
  const auto small = at::randn({7, 4}, at::kDouble);
  const auto indices = at::tensor({0, 12, 3, 3, 7, 1, 12, 9, 4, 4, 4, 10}, at::kLong).view({3, 4});
  const auto flat = at::tensor({6, 0, 6, 5, 2, 3}, at::kLong);
  return {
      make_case("embedding", {weight, indices}, [](const Tensors& t) { return F::embedding(t[1], t[0]); }),
      make_case("embedding 1-D indices", {small, flat}, [](const Tensors& t) { return F::embedding(t[1], t[0]); }),
      make_case("embedding padding_idx=4", {weight, indices},
                [](const Tensors& t) { return F::embedding(t[1], t[0], F::EmbeddingFuncOptions().padding_idx(4)); }),
      make_case("embedding padding_idx=-1 (row 12)", {weight, indices},
                [](const Tensors& t) { return F::embedding(t[1], t[0], F::EmbeddingFuncOptions().padding_idx(-1)); }),
      make_case("embedding scale_grad_by_freq", {weight, indices},
                [](const Tensors& t) { return F::embedding(t[1], t[0], F::EmbeddingFuncOptions().scale_grad_by_freq(true)); }),
      make_case("embedding scale_grad_by_freq padding_idx=6", {small, flat},
                [](const Tensors& t) {
                  return F::embedding(t[1], t[0], F::EmbeddingFuncOptions().scale_grad_by_freq(true).padding_idx(6));
                }),
  };
}

void run_tables(int n, const std::string& family, const std::function<std::vector<OpCase>()>& cases) {
  int64_t total = 0;
  auto mesh = init_device_mesh("cpu", {n});
  for (const auto& c : cases()) total += check_op(c, mesh);
  dtensor::testing::report_op_cases(family + " (world " + std::to_string(n) + ")", total);
  if (n == 4) {
    int64_t total2d = 0;
    auto mesh2d = init_device_mesh("cpu", {2, 2});
    for (auto c : cases()) {
      c.max_cases = 16;
      total2d += check_op(c, mesh2d);
    }
    dtensor::testing::report_op_cases(family + " (2x2 mesh)", total2d);
  }
}

}  // namespace

TEST(NnOpsOpTable, NormsAndSoftmax) {
  for (int n : {2, 3, 4}) run_world(n, [n](int) { run_tables(n, "norms+softmax", norm_softmax_cases); });
}

TEST(NnOpsOpTable, Losses) {
  for (int n : {2, 3, 4}) run_world(n, [n](int) { run_tables(n, "losses", loss_cases); });
}

TEST(NnOpsOpTable, Embedding) {
  for (int n : {2, 3, 4}) run_world(n, [n](int) { run_tables(n, "embedding", embedding_cases); });
}

// SequenceParallel norms: a sequence-sharded activation is normalised locally (no collectives in
// forward or backward); the output stays Shard(1) and the parameter gradients are Partial(sum).
TEST(NnOpsPatterns, SequenceParallelNorms) {
  run_world(2, [](int) {
    auto mesh = init_device_mesh("cpu", {2});
    at::manual_seed(3);
    const auto x = at::randn({3, 8, 6});
    const auto ones = at::ones({6});
    for (bool rms : {false, true}) {
      SCOPED_TRACE(rms ? "rms_norm" : "layer_norm");
      auto dx = distribute_tensor(x, mesh, {Shard(1)});
      auto w = DTensor::from_local(ones.clone(), mesh, {Replicate()}).set_requires_grad(true);
      auto b = DTensor::from_local(at::zeros({6}), mesh, {Replicate()}).set_requires_grad(true);
      debug::CommDebugMode comm;
      auto y = DTensor(rms ? rms_norm(dx, w) : F::layer_norm(dx, F::LayerNormFuncOptions({6}).weight(w).bias(b)));
      EXPECT_EQ(y.placements(), Placements{Shard(1)});
      y.sum().backward();
      EXPECT_EQ(comm.get_total_counts(), 0) << comm.table();
      EXPECT_EQ(DTensor(w.grad()).placements(), Placements{Partial("sum")});
      if (!rms) EXPECT_EQ(DTensor(b.grad()).placements(), Placements{Partial("sum")});
    }
  });
}

TEST(NnOpsPatterns, SoftmaxKeepsOtherShards) {
  run_world(2, [](int) {
    auto mesh = init_device_mesh("cpu", {2});
    auto x = distribute_tensor(at::randn({4, 6}), mesh, {Shard(0)}).set_requires_grad(true);
    debug::CommDebugMode comm;
    auto y = DTensor(at::softmax(x, 1));
    EXPECT_EQ(y.placements(), Placements{Shard(0)});
    y.sum().backward();
    EXPECT_EQ(comm.get_total_counts(), 0) << comm.table();
    EXPECT_EQ(DTensor(x.grad()).placements(), Placements{Shard(0)});
  });
}

// The backward kernels are linear in the incoming gradient: a Partial(sum) gradient over a
// replicated forward passes through, with no collective.
TEST(NnOpsPatterns, PartialGradientsPassThrough) {
  run_world(2, [](int rank) {
    auto mesh = init_device_mesh("cpu", {2});
    at::manual_seed(6);
    const auto x = at::randn({4, 6}), g = at::randn({4, 6}), noise = at::randn({4, 6});
    const auto w = at::randn({6}), b = at::randn({6});
    auto partial = [&](const at::Tensor& full) {
      return DTensor::from_local(rank == 0 ? full - noise : noise, mesh, {Partial("sum")});
    };
    auto whole = [&](const at::Tensor& t) { return DTensor::from_local(t, mesh, {Replicate()}); };
    const auto y = at::softmax(x, 1), ly = at::log_softmax(x, 1);
    const auto stats = at::native_layer_norm(x, {6}, w, b, 1e-5);
    const auto mean = std::get<1>(stats), rstd = std::get<2>(stats);
    auto expect_ln = at::native_layer_norm_backward(g, x, {6}, mean, rstd, w, b, {true, true, true});
    const Tensors expect{at::_softmax_backward_data(g, y, 1, at::kFloat),
                         at::_log_softmax_backward_data(g, ly, 1, at::kFloat), std::get<0>(expect_ln),
                         std::get<1>(expect_ln), std::get<2>(expect_ln)};
    const auto dg = partial(g);
    const auto dy = whole(y), dly = whole(ly), dx = whole(x), dmean = whole(mean), drstd = whole(rstd),
               dw = whole(w), db = whole(b);
    Tensors got;
    {
      debug::CommDebugMode comm;
      got.push_back(at::_softmax_backward_data(dg, dy, 1, at::kFloat));
      got.push_back(at::_log_softmax_backward_data(dg, dly, 1, at::kFloat));
      auto ln = at::native_layer_norm_backward(dg, dx, {6}, dmean, drstd, dw, db, {true, true, true});
      got.insert(got.end(), {std::get<0>(ln), std::get<1>(ln), std::get<2>(ln)});
      EXPECT_EQ(comm.get_total_counts(), 0) << comm.table();
    }
    const char* names[] = {"_softmax_backward_data", "_log_softmax_backward_data", "grad_input", "grad_weight", "grad_bias"};
    for (size_t i = 0; i < got.size(); ++i) {
      SCOPED_TRACE(names[i]);
      EXPECT_EQ(DTensor(got[i]).placements(), Placements{Partial("sum")});
      EXPECT_TRUE(DTensor(got[i]).full_tensor().allclose(expect[i], 1e-5, 1e-5));
    }
  });
}

// Rowwise embedding: the lookup is a masked Partial(sum); its reduction is the output
// redistribution (one all_reduce to Replicate, one reduce_scatter to Shard(1)); the backward
// keeps the gradient row-sharded without collectives (one all_gather to bring a Shard(1) output
// gradient back to Replicate).
TEST(NnOpsPatterns, RowwiseEmbeddingCommunication) {
  run_world(4, [](int) {
    auto mesh = init_device_mesh("cpu", {4});
    at::manual_seed(4);
    const auto weight = at::randn({25, 13});
    const auto indices = at::randint(0, 25, {2, 4}, at::kLong);
    const auto ref = F::embedding(indices, weight);
    for (bool to_shard : {false, true}) {
      SCOPED_TRACE(to_shard ? "output Shard(1)" : "output Replicate");
      auto w = distribute_tensor(weight, mesh, {Shard(0)}).set_requires_grad(true);
      auto idx = distribute_tensor(indices, mesh, {Replicate()});
      auto partial = DTensor(F::embedding(idx, w));
      EXPECT_EQ(partial.placements(), Placements{Partial("sum")});
      debug::CommDebugMode fwd;
      auto out = partial.redistribute({to_shard ? Placement(Shard(1)) : Placement(Replicate())});
      EXPECT_EQ(fwd.get_comm_counts(), (std::map<std::string, int64_t>{{to_shard ? "reduce_scatter" : "all_reduce", 1}}));
      EXPECT_TRUE(out.full_tensor().allclose(ref, 1e-5, 1e-6));
      debug::CommDebugMode bwd;
      out.to_local().sum().backward();  // as RowwiseParallel's use_local_output hands it on
      if (to_shard) EXPECT_EQ(bwd.get_comm_counts(), (std::map<std::string, int64_t>{{"all_gather", 1}}));
      else EXPECT_EQ(bwd.get_total_counts(), 0) << bwd.table();
      auto grad = DTensor(w.grad());
      EXPECT_EQ(grad.placements(), Placements{Shard(0)});
      auto ref_w = weight.clone().requires_grad_(true);
      F::embedding(indices, ref_w).sum().backward();
      EXPECT_TRUE(grad.full_tensor().allclose(ref_w.grad(), 1e-5, 1e-6));
    }
  });
}

TEST(NnOpsErrors, NllLossMeanUnevenRows) {
  run_world(4, [](int) {
    auto mesh = init_device_mesh("cpu", {4});
    auto x = distribute_tensor(at::randn({6, 5}), mesh, {Shard(0)});
    auto t = distribute_tensor(at::randint(0, 5, {6}, at::kLong), mesh, {Shard(0)});
    EXPECT_THROW_MSG(F::cross_entropy(x, t), c10::ValueError,
                     "The intermediate results of nll_loss cannot be evenly sharded, resulting in biased mean result.");
    // sum has no divisor: uneven rows are fine.
    auto loss = DTensor(F::cross_entropy(x, t, F::CrossEntropyFuncOptions().reduction(torch::kSum)));
    EXPECT_EQ(loss.placements(), Placements{Partial("sum")});
  });
}
