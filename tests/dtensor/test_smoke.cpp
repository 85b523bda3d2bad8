#include <dtensor/dtensor.h>
#include <torch/nn/modules/linear.h>
#include <torch/optim/adamw.h>

#include "harness/expect.h"
#include "harness/multiprocess.h"

using namespace dtensor;
using dtensor::testing::run_world;

TEST(Smoke, DistributeAddSum) {
  run_world(2, [](int rank) {
    auto mesh = init_device_mesh("cpu", {2});
    at::manual_seed(0);
    auto x = at::randn({4, 6});
    auto dx = distribute_tensor(x, mesh, {Shard(0)});
    EXPECT_EQ(dx.sizes(), x.sizes());
    EXPECT_EQ(dx.local_tensor().sizes(), (std::vector<int64_t>{2, 6}));
    auto y = DTensor(dx + dx);
    EXPECT_TRUE(y.full_tensor().allclose(x + x));
    auto s = DTensor(dx.sum());
    EXPECT_TRUE(s.placements()[0].is_partial());
    EXPECT_TRUE(s.full_tensor().allclose(x.sum()));
    auto w = at::randn({6, 3});
    auto dw = distribute_tensor(w, mesh, {Replicate()});
    auto z = DTensor(at::mm(dx, dw));
    EXPECT_TRUE(z.placements()[0].is_shard(0)) << z;
    EXPECT_TRUE(z.full_tensor().allclose(at::mm(x, w), 1e-5, 1e-6));
  });
}

TEST(Smoke, LinearBackwardAdamW) {
  run_world(2, [](int rank) {
    auto mesh = init_device_mesh("cpu", {2});
    torch::manual_seed(1);
    torch::nn::Linear ref(8, 4), lin(8, 4);
    lin->weight.data().copy_(ref->weight.data());
    lin->bias.data().copy_(ref->bias.data());
    auto x = torch::randn({5, 8});
    // Shard the weight on out features (colwise).
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
