// Port of PyTorch's test_tp_examples: MLP and Transformer training under tensor (and sequence)
// parallelism, matching the single-process model through optimizer steps; inference mode.
#include <torch/optim/adam.h>
#include <torch/optim/sgd.h>

#include <dtensor/dtensor.h>

#include "harness/expect.h"
#include "harness/multiprocess.h"
#include "parallel/models.h"
#include "parallel/transformer.h"

using namespace dtensor;
namespace tp = dtensor::parallel;
using dtensor::debug::CommDebugMode;
using dtensor::nn::unique_parameters;
using dtensor::testing::run_world;

namespace {

void expect_same_parameters(torch::nn::Module& parallel, torch::nn::Module& ref, double tol) {
  auto ref_params = ref.named_parameters();
  for (const auto& p : parallel.named_parameters()) {
    auto full = is_dtensor(p.value()) ? DTensor(p.value()).full_tensor() : p.value();
    EXPECT_TRUE(full.allclose(ref_params[p.key()], tol, tol)) << p.key() << " differs by "
        << (full - ref_params[p.key()]).abs().max().item<double>();
  }
}

}  // namespace

TEST(TpExamples, MlpSequenceParallelTraining) {
  run_world(2, [](int rank) {
    auto mesh = init_device_mesh("cpu", {2});
    dtensor::testing::MLPModule model, ref;
    tp::parallelize_module(model, mesh, tp::ParallelizePlan{{"net1", tp::ColwiseParallel().input_layouts(Shard(0))},
                                                            {"net2", tp::RowwiseParallel().output_layouts(Shard(0))}});
    torch::optim::SGD opt(model->parameters(), 0.25), ref_opt(ref->parameters(), 0.25);
    for (int step = 0; step < 3; ++step) {
      torch::manual_seed(20 + step);
      auto x = torch::rand({8, 10});
      CommDebugMode comm;
      auto out = model(x.chunk(2, 0)[rank]);
      // Forward: all_gather of the input, reduce_scatter of the output; backward: the output
      // gradient is gathered once (the input needs no gradient).
      EXPECT_EQ(comm.get_comm_counts(), (std::map<std::string, int64_t>{{"all_gather", 1}, {"reduce_scatter", 1}}));
      out.sum().backward();
      EXPECT_EQ(comm.get_comm_counts(), (std::map<std::string, int64_t>{{"all_gather", 2}, {"reduce_scatter", 1}}));
      auto expect = ref(x);
      expect.sum().backward();
      EXPECT_TRUE(out.allclose(expect.chunk(2, 0)[rank], 1e-5, 1e-6));
      opt.step();
      ref_opt.step();
      opt.zero_grad();
      ref_opt.zero_grad();
    }
    expect_same_parameters(*model, *ref, 1e-5);
  });
}

TEST(TpExamples, MlpInferenceMode) {
  run_world(2, [](int) {
    auto mesh = init_device_mesh("cpu", {2});
    dtensor::testing::MLPModule model, ref;
    tp::parallelize_module(model, mesh, tp::ParallelizePlan{{"net1", tp::ColwiseParallel()}, {"net2", tp::RowwiseParallel()}});
    torch::manual_seed(3);
    auto x = torch::rand({4, 10});
    c10::InferenceMode guard;
    auto out = model(x);
    EXPECT_TRUE(out.is_inference());
    EXPECT_TRUE(out.allclose(ref(x), 1e-5, 1e-6));
  });
}

namespace {

void train_transformer(bool seq_parallel, int steps) {
  const int n = get_world_size();
  auto mesh = init_device_mesh("cpu", {n}, {"tp"});
  dtensor::testing::ModelArgs args;
  args.dropout_p = 0.0;  // dropout streams of DTensors are sharding-invariant, not torch's stream
  args.n_heads = 4;
  torch::manual_seed(0);
  dtensor::testing::Transformer model(args);
  torch::manual_seed(0);
  dtensor::testing::Transformer ref(args);
  dtensor::testing::parallelize_transformer(model, mesh, seq_parallel);
  torch::optim::Adam opt(unique_parameters(*model), torch::optim::AdamOptions(0.01));
  torch::optim::Adam ref_opt(unique_parameters(*ref), torch::optim::AdamOptions(0.01));
  const int64_t batch = 4, seq = 8;
  for (int step = 0; step < steps; ++step) {
    torch::manual_seed(50 + step);
    auto tokens = torch::randint(args.vocab_size, {batch, seq}, torch::kLong);
    CommDebugMode comm;
    auto out = model(tokens);
    auto loss = out.sum();
    loss.backward();
    auto expect = ref(tokens);
    expect.sum().backward();
    EXPECT_TRUE(out.allclose(expect, 1e-4, 1e-5)) << "step " << step << " max diff "
                                                   << (out - expect).abs().max().item<double>();
    if (step == 0 && get_rank() == 0) std::printf("%s", comm.table().c_str());
    opt.step();
    ref_opt.step();
    opt.zero_grad();
    ref_opt.zero_grad();
  }
  expect_same_parameters(*model, *ref, 1e-4);
}

}  // namespace

TEST(TpExamples, TransformerTraining) {
  for (int n : {2, 4}) run_world(n, [](int) { train_transformer(false, 2); });
}

TEST(TpExamples, TransformerSequenceParallelTraining) {
  for (int n : {2, 4}) run_world(n, [](int) { train_transformer(true, 2); });
}
