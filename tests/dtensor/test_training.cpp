// torch::nn::Linear with DTensor parameters trains like the single-process module: forward,
// backward, and several steps of torch::optim::SGD (momentum, weight decay) and AdamW, on worlds
// 1-4 with column-wise, row-wise and replicated parameter layouts (uneven shards included: 6
// output and 8 input features over 4 and 3 ranks).
#include <dtensor/dtensor.h>
#include <torch/nn/modules/linear.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>

#include "harness/multiprocess.h"

using namespace dtensor;
using dtensor::testing::run_world;

namespace {

struct Layout {
  const char* name;
  Placements weight, bias, input;  // on a 1-D mesh
};

const std::vector<Layout>& layouts() {
  static const std::vector<Layout> l{
      {"colwise", {Shard(0)}, {Shard(0)}, {Replicate{}}},
      {"rowwise", {Shard(1)}, {Replicate{}}, {Shard(1)}},
      {"replicate", {Replicate{}}, {Replicate{}}, {Replicate{}}},
  };
  return l;
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const std::string& kind,
                                                        std::vector<at::Tensor> params) {
  if (kind == "sgd") {
    return std::make_unique<torch::optim::SGD>(
        params, torch::optim::SGDOptions(0.05).momentum(0.9).weight_decay(0.01));
  }
  return std::make_unique<torch::optim::AdamW>(
      params, torch::optim::AdamWOptions(0.02).weight_decay(0.05));
}

bool close(const at::Tensor& dist, const at::Tensor& ref) {
  return at::allclose(DTensor(dist).full_tensor(), ref, 1e-4, 1e-5);
}

void train(const DeviceMesh& mesh, const Layout& layout, const std::string& optimizer) {
  SCOPED_TRACE(c10::str(layout.name, " + ", optimizer, " on ", mesh));
  torch::manual_seed(7);
  torch::nn::Linear ref(8, 6), lin(8, 6);
  nn::replace_parameter(*lin, "weight", distribute_tensor(ref->weight.detach(), mesh, layout.weight));
  nn::replace_parameter(*lin, "bias", distribute_tensor(ref->bias.detach(), mesh, layout.bias));
  ASSERT_TRUE(is_dtensor(lin->weight));
  ASSERT_TRUE(lin->weight.requires_grad());
  ASSERT_TRUE(lin->parameters()[0].is_same(lin->weight));
  auto opt = make_optimizer(optimizer, lin->parameters());
  auto ref_opt = make_optimizer(optimizer, ref->parameters());
  for (int step = 0; step < 4; ++step) {
    SCOPED_TRACE(c10::str("step ", step));
    auto x = at::randn({5, 8});
    auto target = at::randn({5, 6});
    opt->zero_grad();
    ref_opt->zero_grad();
    auto out = lin->forward(distribute_tensor(x, mesh, layout.input));
    ASSERT_TRUE(is_dtensor(out));
    auto expect = ref->forward(x);
    EXPECT_TRUE(close(out, expect));
    // A loss every rank agrees on: a replicated scalar.
    Placements target_placements = DTensor(out).placements();
    for (auto& p : target_placements)
      if (p.is_partial()) p = Replicate{};
    auto dtarget = distribute_tensor(target, mesh, target_placements);
    auto loss = DTensor(((out - dtarget) * (out - dtarget)).mean());
    auto ref_loss = ((expect - target) * (expect - target)).mean();
    EXPECT_TRUE(at::allclose(loss.full_tensor(), ref_loss, 1e-4, 1e-6));
    loss.backward();
    ref_loss.backward();
    // The gradient's placements are whatever the backward ops produce (a replicated weight can
    // get a Partial gradient); its value is what counts, and the optimizer keeps the parameter's.
    ASSERT_TRUE(is_dtensor(lin->weight.grad()));
    EXPECT_TRUE(close(lin->weight.grad(), ref->weight.grad()));
    EXPECT_TRUE(close(lin->bias.grad(), ref->bias.grad()));
    opt->step();
    ref_opt->step();
    EXPECT_EQ(DTensor(lin->weight).placements(), layout.weight);
    EXPECT_TRUE(close(lin->weight, ref->weight)) << DTensor(lin->weight).full_tensor() << "\n" << ref->weight;
    EXPECT_TRUE(close(lin->bias, ref->bias));
  }
}

}  // namespace

TEST(Training, LinearWithOptimizers) {
  for (int n : {1, 2, 3, 4}) {
    run_world(n, [n](int) {
      auto mesh = init_device_mesh("cpu", {n});
      for (const auto& layout : layouts())
        for (const char* optimizer : {"sgd", "adamw"}) train(mesh, layout, optimizer);
    });
  }
}
