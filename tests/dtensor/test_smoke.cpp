// First end-to-end checks of the op table on the ops every family builds on.
#include <dtensor/dtensor.h>
#include <torch/nn/modules/linear.h>
#include <torch/optim/adamw.h>

#include "harness/expect.h"
#include "harness/multiprocess.h"
#include "harness/op_check.h"

using namespace dtensor;
using dtensor::testing::check_op;
using dtensor::testing::OpCase;
using dtensor::testing::run_world;

namespace {
std::vector<OpCase> basic_cases() {
  at::manual_seed(3);
  auto a = at::randn({4, 6}), b = at::randn({4, 6}), w = at::randn({6, 5}), bias = at::randn({5});
  return {
      {"add", {a, b}, [](const std::vector<at::Tensor>& x) { return std::vector<at::Tensor>{x[0] + x[1]}; }},
      {"mul", {a, b}, [](const std::vector<at::Tensor>& x) { return std::vector<at::Tensor>{x[0] * x[1]}; }},
      {"mm", {a, w}, [](const std::vector<at::Tensor>& x) { return std::vector<at::Tensor>{at::mm(x[0], x[1])}; }},
      {"addmm", {bias, a, w}, [](const std::vector<at::Tensor>& x) { return std::vector<at::Tensor>{at::addmm(x[0], x[1], x[2])}; }},
      {"sum", {a}, [](const std::vector<at::Tensor>& x) { return std::vector<at::Tensor>{x[0].sum()}; }},
      {"sum.dim", {a}, [](const std::vector<at::Tensor>& x) { return std::vector<at::Tensor>{x[0].sum(1)}; }},
      {"t", {a}, [](const std::vector<at::Tensor>& x) { return std::vector<at::Tensor>{x[0].t()}; }},
      // Splitting the 4 rows into 2 x 2 keeps every shard local, also unevenly: over 3 ranks
      // the row pieces 2, 2, 0 are exactly the output pieces 1, 1, 0 (src/ops/views.cpp).
      {"view split", {a}, [](const std::vector<at::Tensor>& x) { return std::vector<at::Tensor>{x[0].view({2, 2, 6})}; }},
      // Flattening is a strict view: it raises where a rank's elements are not its chunk of the
      // 24: columns always; uneven rows, e.g. over 3 ranks 12, 12, 0 elements against chunks of 8.
      {"view flatten", {a}, [](const std::vector<at::Tensor>& x) { return std::vector<at::Tensor>{x[0].view({24})}; },
       true, true, {}, 1e-4, 1e-5, 64,
       [](const std::vector<Placements>& p, const DeviceMesh& m) {
         return p[0][0].is_shard(1) || (p[0][0].is_shard(0) && 4 % m.size() != 0);
       }},
      {"clone", {a}, [](const std::vector<at::Tensor>& x) { return std::vector<at::Tensor>{x[0].clone()}; }},
  };
}
}  // namespace

TEST(Smoke, OpTable) {
  for (int n : {2, 3}) {
    run_world(n, [n](int) {
      auto mesh = init_device_mesh("cpu", {n});
      int64_t total = 0;
      for (const auto& c : basic_cases()) total += check_op(c, mesh);
      dtensor::testing::report_op_cases("smoke", total);
    });
  }
}

TEST(Smoke, LinearBackwardAdamW) {
  run_world(2, [](int rank) {
    auto mesh = init_device_mesh("cpu", {2});
    torch::manual_seed(1);
    torch::nn::Linear ref(8, 4), lin(8, 4);
    lin->weight.data().copy_(ref->weight.data());
    lin->bias.data().copy_(ref->bias.data());
    auto x = torch::randn({5, 8});
    auto w = distribute_tensor(lin->weight.detach(), mesh, {Shard(0)}).set_requires_grad(true);
    auto b = distribute_tensor(lin->bias.detach(), mesh, {Shard(0)}).set_requires_grad(true);
    auto dx = distribute_tensor(x, mesh, {Replicate()});
    auto out = DTensor(torch::nn::functional::linear(dx, w, b));
    auto expect = ref(x);
    EXPECT_TRUE(out.full_tensor().allclose(expect, 1e-5, 1e-6)) << out;
    out.sum().backward();
    expect.sum().backward();
    EXPECT_TRUE(DTensor(w.grad()).full_tensor().allclose(ref->weight.grad(), 1e-5, 1e-6));
    EXPECT_TRUE(DTensor(b.grad()).full_tensor().allclose(ref->bias.grad(), 1e-5, 1e-6));
    torch::optim::AdamW opt({w, b}, torch::optim::AdamWOptions(0.1));
    torch::optim::AdamW ref_opt(ref->parameters(), torch::optim::AdamWOptions(0.1));
    opt.step();
    ref_opt.step();
    EXPECT_TRUE(DTensor(w).full_tensor().allclose(ref->weight, 1e-5, 1e-6));
  });
}
