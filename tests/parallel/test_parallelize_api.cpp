// Port of PyTorch's test_parallelize_api: plans, wildcards, root modules, src_data_rank, errors.
#include <dtensor/dtensor.h>

#include "harness/expect.h"
#include "harness/multiprocess.h"
#include "parallel/models.h"

using namespace dtensor;
namespace tp = dtensor::parallel;
using dtensor::debug::CommDebugMode;
using dtensor::testing::MLPModule;
using dtensor::testing::run_world;

namespace {

struct StackedImpl : torch::nn::Module {
  StackedImpl() {
    layers = register_module("layers", torch::nn::ModuleList());
    for (int i = 0; i < 2; ++i) layers->push_back(MLPModule());
  }
  at::Tensor forward(at::Tensor x) {
    for (auto& layer : *layers) x = layer->as<dtensor::testing::MLPModuleImpl>()->forward(x);
    return x;
  }
  torch::nn::ModuleList layers{nullptr};
};

bool sharded(const at::Tensor& t, const Placement& p) { return is_dtensor(t) && DTensor(t).placements() == Placements{p}; }

}  // namespace

TEST(ParallelizeApi, WildcardsMatchOneComponentAtATime) {
  run_world(2, [](int) {
    auto mesh = init_device_mesh("cpu", {2});
    for (const char* key : {"net*", "net?", "net[1-2]"}) {
      MLPModule m;
      tp::parallelize_module(m, mesh, tp::ParallelizePlan{{key, tp::ColwiseParallel().output_layouts(Replicate())}});
      EXPECT_TRUE(sharded(m->net1->weight, Shard(0))) << key;
      EXPECT_TRUE(sharded(m->net2->weight, Shard(0))) << key;
    }
    auto stacked = std::make_shared<StackedImpl>();
    tp::parallelize_module(stacked, mesh, tp::ParallelizePlan{{"layers.*.net[1]", tp::ColwiseParallel()},
                                                              {"layers.*.net2", tp::RowwiseParallel()}});
    for (auto& layer : *stacked->layers) {
      auto* mlp = layer->as<dtensor::testing::MLPModuleImpl>();
      EXPECT_TRUE(sharded(mlp->net1->weight, Shard(0)));
      EXPECT_TRUE(sharded(mlp->net2->weight, Shard(1)));
    }
    auto ref = std::make_shared<StackedImpl>();
    torch::manual_seed(3);
    auto x = torch::rand({4, 10});
    EXPECT_TRUE(stacked->forward(x).allclose(ref->forward(x), 1e-5, 1e-6));
  });
}

TEST(ParallelizeApi, UnmatchedKeyIsAnErrorNamingTheChildren) {
  run_world(2, [](int) {
    auto mesh = init_device_mesh("cpu", {2});
    MLPModule m;
    EXPECT_THROW_MSG(tp::parallelize_module(m, mesh, tp::ParallelizePlan{{"net3", tp::ColwiseParallel()}}),
                     c10::ValueError, "no submodule matching token 'net3' in module (root)");
    EXPECT_THROW_MSG(tp::parallelize_module(m, mesh, tp::ParallelizePlan{{"net1.hello.world", tp::ColwiseParallel()}}),
                     c10::ValueError, "token 'hello' in module 'net1'");
    EXPECT_THROW_MSG(tp::parallelize_module(m, mesh, tp::ParallelizePlan{{"nope", tp::ColwiseParallel()}}),
                     c10::ValueError, "whose children are [net1, net2]");
  });
}

TEST(ParallelizeApi, RootModulePlan) {
  run_world(2, [](int) {
    auto mesh = init_device_mesh("cpu", {2});
    MLPModule m, ref;
    tp::parallelize_module(
        m, mesh,
        tp::ParallelizePlan{
            {"", tp::PrepareModuleInputOutput()
                     .input_layouts({Replicate()}).desired_input_layouts({Shard(0)})
                     .output_layouts({Shard(0)}).desired_output_layouts({Replicate()})},
            {"net1", tp::ColwiseParallel().input_layouts(Shard(0))},
            {"net2", tp::RowwiseParallel().output_layouts(Shard(0))}});
    torch::manual_seed(2);
    auto x = torch::rand({8, 10});
    auto out = m(x);
    EXPECT_FALSE(is_dtensor(out));
    EXPECT_TRUE(out.allclose(ref(x), 1e-5, 1e-6));
  });
}

TEST(ParallelizeApi, SrcDataRank) {
  run_world(2, [](int rank) {
    auto mesh = init_device_mesh("cpu", {2});
    auto plan = tp::ParallelizePlan{{"net1", tp::ColwiseParallel()}, {"net2", tp::RowwiseParallel()}};
    {
      MLPModule m;
      torch::manual_seed(10 + rank);  // ranks start from different weights
      for (auto& p : m->parameters()) p.data().uniform_();
      auto originals = m->named_parameters();
      std::map<std::string, at::Tensor> mine;
      for (const auto& p : originals) mine[p.key()] = p.value().detach().clone();
      CommDebugMode comm;
      tp::parallelize_module(m, mesh, plan, tp::ParallelizeOptions{1});
      EXPECT_GT(comm.get_total_counts(), 0);
      auto after = m->named_parameters();
      for (const auto& [name, original] : mine) {
        auto full = DTensor(after[name]).full_tensor();
        if (rank == 1) EXPECT_TRUE(full.equal(original)) << name << ": rank 1's values everywhere";
      }
    }
    {
      MLPModule m;
      CommDebugMode comm;
      tp::parallelize_module(m, mesh, plan, tp::ParallelizeOptions{std::nullopt});
      EXPECT_EQ(comm.get_total_counts(), 0) << "src_data_rank=nullopt: no communication";
    }
  });
}

TEST(ParallelizeApi, Errors) {
  run_world(4, [](int) {
    auto mesh2d = init_device_mesh("cpu", {2, 2}, {"dp", "tp"});
    MLPModule m;
    EXPECT_THROW_MSG(tp::parallelize_module(m, mesh2d, tp::ColwiseParallel()), c10::ValueError,
                     "Tensor Parallel only accepts a 1D DeviceMesh, but found 2D");
    auto mesh = mesh2d["tp"];
    // Two partitioning styles on one module.
    tp::parallelize_module(m->net1, mesh, tp::ColwiseParallel());
    EXPECT_THROW_MSG(tp::parallelize_module(m->net1, mesh, tp::RowwiseParallel()), c10::Error,
                     "distribute_module should only be called once on a module");
    // Styles on modules they do not support.
    dtensor::nn::LayerNorm norm(torch::nn::LayerNormOptions({10}));
    EXPECT_THROW_MSG(tp::parallelize_module(norm, mesh, tp::ColwiseParallel()), c10::NotImplementedError,
                     "ColwiseParallel currently only support nn.Linear and nn.Embedding!");
    EXPECT_THROW_MSG(tp::parallelize_module(norm, mesh, tp::RowwiseParallel()), c10::NotImplementedError,
                     "RowwiseParallel currently only support nn.Linear and nn.Embedding!");
    EXPECT_THROW_MSG(tp::parallelize_module(m, mesh, tp::PrepareModuleInput().input_layouts({Shard(0)})),
                     c10::ValueError, "desired module inputs should not be None!");
    EXPECT_THROW_MSG(tp::parallelize_module(m, mesh, tp::PrepareModuleInput().input_layouts({Shard(0)}).desired_input_layouts({Replicate(), Replicate()})),
                     c10::ValueError, "input_layouts and desired_input_layouts should have same length!");
    EXPECT_THROW_MSG(tp::parallelize_module(m, mesh, tp::PrepareModuleOutput().output_layouts({Shard(0)}).desired_output_layouts({})),
                     c10::ValueError, "output_layouts and desired_output_layouts should have same length!");
    EXPECT_THROW_MSG(tp::parallelize_module(m, mesh, tp::ColwiseParallel().output_layouts(Partial())),
                     c10::ValueError, "is not reachable");
  });
}

TEST(ParallelizeApi, PrepareModuleInputRuntimeErrors) {
  run_world(2, [](int) {
    auto mesh = init_device_mesh("cpu", {2});
    MLPModule m;
    tp::parallelize_module(m, mesh, tp::PrepareModuleInput().input_layouts({Shard(0), Replicate()})
                                        .desired_input_layouts({Replicate(), Replicate()}));
    EXPECT_THROW_MSG(m(torch::rand({2, 10})), c10::ValueError, "module inputs and input_layouts should have same length!");
  });
}
