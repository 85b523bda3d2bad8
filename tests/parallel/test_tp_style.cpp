// Port of PyTorch's test_tp_style: each style's output shapes, values vs single-process,
// gradients, and exact forward/backward collective counts.
#include <dtensor/dtensor.h>
#include <torch/optim/sgd.h>

#include "harness/expect.h"
#include "harness/multiprocess.h"
#include "parallel/models.h"

using namespace dtensor;
namespace tp = dtensor::parallel;
using dtensor::debug::CommDebugMode;
using dtensor::testing::run_world;

namespace {

dtensor::nn::Linear make_linear(int64_t in, int64_t out, uint64_t seed) {
  torch::manual_seed(seed);
  return dtensor::nn::Linear(in, out);
}

torch::nn::Linear reference_of(dtensor::nn::Linear& l) {
  torch::nn::Linear ref(l->options);
  dtensor::testing::copy_parameters(*ref, *l);
  return ref;
}

}  // namespace

TEST(TpStyle, ColwiseLinearDefault) {
  for (int n : {2, 4}) {
    run_world(n, [n](int) {
      auto mesh = init_device_mesh("cpu", {n}, {"tp"});
      auto linear = make_linear(16, 16, 0);
      auto ref = reference_of(linear);
      tp::parallelize_module(linear, mesh, tp::ColwiseParallel());
      EXPECT_TRUE(is_dtensor(linear->weight));
      EXPECT_EQ(DTensor(linear->weight).placements(), Placements{Shard(0)});
      EXPECT_EQ(DTensor(linear->bias).placements(), Placements{Shard(0)});
      torch::manual_seed(1);
      auto x = torch::rand({8, 16}).requires_grad_(true);
      auto x_ref = x.detach().clone().requires_grad_(true);
      CommDebugMode comm;
      auto out = linear(x);
      EXPECT_FALSE(is_dtensor(out)) << "use_local_output gives the local shard";
      EXPECT_EQ(out.sizes(), (std::vector<int64_t>{8, 16 / n}));
      EXPECT_EQ(comm.get_total_counts(), 0) << "replicated input: no forward collective";
      out.sum().backward();
      // The input gradient is Partial and reduced by from_local's backward.
      EXPECT_EQ(comm.get_comm_counts(), (std::map<std::string, int64_t>{{"all_reduce", 1}}));
      auto expect = ref(x_ref);
      EXPECT_TRUE(out.allclose(expect.chunk(n, -1)[get_rank()], 1e-5, 1e-6));
      expect.sum().backward();
      EXPECT_TRUE(x.grad().allclose(x_ref.grad(), 1e-5, 1e-6));
      EXPECT_TRUE(DTensor(linear->weight.grad()).full_tensor().allclose(ref->weight.grad(), 1e-5, 1e-6));
    });
  }
}

TEST(TpStyle, ColwiseLinearShardedInput) {
  run_world(2, [](int rank) {
    auto mesh = init_device_mesh("cpu", {2}, {"tp"});
    auto linear = make_linear(16, 16, 0);
    auto ref = reference_of(linear);
    tp::parallelize_module(linear, mesh, tp::ColwiseParallel().input_layouts(Shard(0)));
    torch::manual_seed(1);
    auto full = torch::rand({16, 16});
    auto x = full.chunk(2, 0)[rank].clone().requires_grad_(true);
    CommDebugMode comm;
    auto out = linear(x);
    EXPECT_EQ(out.sizes(), (std::vector<int64_t>{16, 8}));
    EXPECT_EQ(comm.get_comm_counts(), (std::map<std::string, int64_t>{{"all_gather", 1}}));
    out.sum().backward();
    EXPECT_EQ(comm.get_comm_counts(), (std::map<std::string, int64_t>{{"all_gather", 1}, {"reduce_scatter", 1}}));
    auto full_ref = full.clone().requires_grad_(true);
    auto expect = ref(full_ref);
    EXPECT_TRUE(out.allclose(expect.chunk(2, -1)[rank], 1e-5, 1e-6));
    expect.sum().backward();
    EXPECT_TRUE(x.grad().allclose(full_ref.grad().chunk(2, 0)[rank], 1e-5, 1e-6));
  });
}

TEST(TpStyle, RowwiseLinear) {
  for (int n : {2, 4}) {
    run_world(n, [n](int rank) {
      auto mesh = init_device_mesh("cpu", {n}, {"tp"});
      auto linear = make_linear(16, 12, 0);
      auto ref = reference_of(linear);
      tp::parallelize_module(linear, mesh, tp::RowwiseParallel());
      EXPECT_EQ(DTensor(linear->weight).placements(), Placements{Shard(1)});
      EXPECT_EQ(DTensor(linear->bias).placements(), Placements{Replicate()});
      torch::manual_seed(1);
      auto full = torch::rand({8, 16});
      auto x = full.chunk(n, -1)[rank].clone().requires_grad_(true);
      CommDebugMode comm;
      auto out = linear(x);
      EXPECT_EQ(comm.get_comm_counts(), (std::map<std::string, int64_t>{{"all_reduce", 1}}));
      out.sum().backward();
      EXPECT_EQ(comm.get_total_counts(), 1) << "no backward collective";
      auto full_ref = full.clone().requires_grad_(true);
      auto expect = ref(full_ref);
      EXPECT_TRUE(out.allclose(expect, 1e-5, 1e-6));
      expect.sum().backward();
      EXPECT_TRUE(x.grad().allclose(full_ref.grad().chunk(n, -1)[rank], 1e-5, 1e-6));
      EXPECT_TRUE(DTensor(linear->bias.grad()).full_tensor().allclose(ref->bias.grad(), 1e-5, 1e-6));
    });
  }
}

TEST(TpStyle, RowwiseLinearShardOutput) {
  run_world(2, [](int rank) {
    auto mesh = init_device_mesh("cpu", {2}, {"tp"});
    auto linear = make_linear(16, 12, 0);
    auto ref = reference_of(linear);
    tp::parallelize_module(linear, mesh, tp::RowwiseParallel().output_layouts(Shard(0)));
    torch::manual_seed(1);
    auto full = torch::rand({8, 16});
    auto x = full.chunk(2, -1)[rank].clone().requires_grad_(true);
    CommDebugMode comm;
    auto out = linear(x);
    EXPECT_EQ(comm.get_comm_counts(), (std::map<std::string, int64_t>{{"reduce_scatter", 1}}));
    out.sum().backward();
    EXPECT_EQ(comm.get_comm_counts(), (std::map<std::string, int64_t>{{"reduce_scatter", 1}, {"all_gather", 1}}));
    EXPECT_TRUE(out.allclose(ref(full).chunk(2, 0)[rank], 1e-5, 1e-6));
  });
}

TEST(TpStyle, ReprMatchesPyTorch) {
  EXPECT_EQ(tp::ParallelStyle(tp::ColwiseParallel()).repr(),
            "ColwiseParallel(input_layouts=(Replicate(),), output_layouts=(Shard(dim=-1),), use_local_output=True)");
  EXPECT_EQ(tp::ParallelStyle(tp::RowwiseParallel().output_layouts(Shard(1)).use_local_output(false)).repr(),
            "RowwiseParallel(input_layouts=(Shard(dim=-1),), output_layouts=(Shard(dim=1),), use_local_output=False)");
  EXPECT_EQ(tp::ParallelStyle(tp::SequenceParallel()).repr(), "SequenceParallel(sequence_dim=1, use_local_output=False)");
  EXPECT_EQ(tp::ParallelStyle(tp::PrepareModuleInput().input_layouts({Shard(0)}).desired_input_layouts({Replicate()})).repr(),
            "PrepareModuleInput(input_layouts=(Shard(dim=0),), desired_input_layouts=(Replicate(),), use_local_output=False)");
}

TEST(TpStyle, MlpTrainingMatchesSingleProcess) {
  for (int n : {2, 4}) {
    run_world(n, [n](int) {
      auto mesh = init_device_mesh("cpu", {n}, {"tp"});
      dtensor::testing::MLPModule model, ref_model;
      tp::parallelize_module(model, mesh, tp::ParallelizePlan{{"net1", tp::ColwiseParallel()}, {"net2", tp::RowwiseParallel()}});
      torch::optim::SGD opt(model->parameters(), 0.25), ref_opt(ref_model->parameters(), 0.25);
      for (int step = 0; step < 3; ++step) {
        torch::manual_seed(100 + step);
        auto x = torch::rand({10, 10});
        CommDebugMode comm;
        auto out = model(x);
        auto loss = out.sum();
        loss.backward();
        // Non-SP MLP: only the Rowwise output all_reduce (the input needs no grad).
        EXPECT_EQ(comm.get_comm_counts(), (std::map<std::string, int64_t>{{"all_reduce", 1}}));
        auto ref_out = ref_model(x);
        ref_out.sum().backward();
        EXPECT_TRUE(out.allclose(ref_out, 1e-5, 1e-6)) << "step " << step;
        opt.step();
        ref_opt.step();
        opt.zero_grad();
        ref_opt.zero_grad();
      }
      auto ref_params = ref_model->named_parameters();
      for (const auto& p : model->named_parameters())
        EXPECT_TRUE(DTensor(p.value()).full_tensor().allclose(ref_params[p.key()], 1e-5, 1e-6)) << p.key();
    });
  }
}
