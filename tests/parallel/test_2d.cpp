// A 2-D (dp x tp) mesh: tensor parallel on mesh["tp"], the batch sharded over "dp", and the
// data-parallel gradient reduction done by DTensor placements alone (Partial over "dp").
#include <torch/optim/adamw.h>

#include <dtensor/dtensor.h>

#include "harness/expect.h"
#include "harness/multiprocess.h"
#include "parallel/models.h"

using namespace dtensor;
namespace tp = dtensor::parallel;
using dtensor::debug::CommDebugMode;
using dtensor::testing::run_world;

TEST(TwoDimensional, MlpDataAndTensorParallelMatchesSingleProcess) {
  run_world(4, [](int) {
    auto mesh = init_device_mesh("cpu", {2, 2}, {"dp", "tp"});
    const int64_t dp_rank = mesh.get_local_rank("dp");
    dtensor::testing::MLPModule model, ref;
    // Activations stay DTensors between the layers so they keep their batch sharding over "dp".
    tp::parallelize_module(model, mesh["tp"], tp::ParallelizePlan{{"net1", tp::ColwiseParallel().use_local_output(false)},
                                                                  {"net2", tp::RowwiseParallel()}});
    tp::data_parallel(*model, mesh);
    for (const auto& p : model->named_parameters()) {
      DTensor d(p.value());
      EXPECT_TRUE(d.device_mesh() == mesh) << p.key();
      EXPECT_TRUE(d.placements()[0].is_replicate()) << p.key() << " replicated over dp";
    }
    torch::optim::AdamW opt(model->parameters(), torch::optim::AdamWOptions(0.05));
    torch::optim::AdamW ref_opt(ref->parameters(), torch::optim::AdamWOptions(0.05));
    for (int step = 0; step < 3; ++step) {
      torch::manual_seed(40 + step);
      auto x = torch::rand({8, 10});
      auto out = model(x.chunk(2, 0)[dp_rank]);  // this dp group's half of the batch
      EXPECT_TRUE(out.allclose(ref(x).chunk(2, 0)[dp_rank], 1e-5, 1e-6));
      out.sum().backward();
      ref(x).sum().backward();
      for (const auto& p : model->named_parameters()) {
        EXPECT_TRUE(DTensor(p.value().grad()).placements()[0].is_partial()) << p.key() << ": summed over dp lazily";
      }
      CommDebugMode comm;
      opt.step();
      EXPECT_GT(comm.get_comm_counts()["all_reduce"], 0) << "the optimizer reduces the dp-partial gradients";
      ref_opt.step();
      opt.zero_grad();
      ref_opt.zero_grad();
    }
    auto ref_params = ref->named_parameters();
    for (const auto& p : model->named_parameters())
      EXPECT_TRUE(DTensor(p.value()).full_tensor().allclose(ref_params[p.key()], 1e-5, 1e-6)) << p.key();
  });
}

TEST(CommDebugTable, CollectivesPerModuleForwardAndBackward) {
  run_world(2, [](int) {
    auto mesh = init_device_mesh("cpu", {2});
    dtensor::testing::MLPModule model;
    tp::parallelize_module(model, mesh, tp::ParallelizePlan{{"net1", tp::ColwiseParallel()}, {"net2", tp::RowwiseParallel()}});
    CommDebugMode comm;
    auto x = torch::rand({4, 10}, torch::requires_grad());
    model(x).sum().backward();
    auto per_module = comm.get_per_module_counts();
    EXPECT_EQ(per_module["net2"]["forward"]["all_reduce"], 1) << comm.table();
    EXPECT_EQ(per_module["net1"]["backward"]["all_reduce"], 1) << "the input gradient of the colwise layer\n" << comm.table();
    const auto table = comm.table();
    EXPECT_NE(table.find("net2"), std::string::npos);
    EXPECT_NE(table.find("backward"), std::string::npos);
  });
}
