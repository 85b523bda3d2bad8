// Tensor-parallel errors of SEMANTICS section 5 not covered by test_parallelize_api.cpp and
// test_loss_parallel.cpp: each with its exact type and a stable part of the message (the whole
// catalogue is in tests/dtensor/test_errors.cpp). Every case runs in one world of 2 ranks; every
// rank raises the same error, so none waits on another.
#include <torch/nn/functional/loss.h>

#include <dtensor/dtensor.h>

#include "harness/expect.h"
#include "harness/multiprocess.h"
#include "parallel/models.h"

using namespace dtensor;
namespace tp = dtensor::parallel;
namespace F = torch::nn::functional;
using dtensor::testing::MLPModule;
using dtensor::testing::run_world;

namespace {

// Returns (x, 2x), or (x, undefined) to play a module with a missing output.
struct TwoOutputsImpl : torch::nn::Module {
  explicit TwoOutputsImpl(bool undefined_second) : undefined_second(undefined_second) {}
  std::tuple<at::Tensor, at::Tensor> forward(const at::Tensor& x) {
    return {x, undefined_second ? at::Tensor() : x * 2};
  }
  bool undefined_second;
};
DTENSOR_MODULE(TwoOutputs);

// An MLP whose layers are plain torch holders: their hooks never run.
struct PlainHoldersImpl : torch::nn::Module {
  PlainHoldersImpl() { net1 = register_module("net1", torch::nn::Linear(10, 16)); }
  at::Tensor forward(const at::Tensor& x) { return net1(x); }
  torch::nn::Linear net1{nullptr};
};

// Records the messages of c10 warnings issued while alive.
struct WarningRecorder : c10::WarningHandler {
  void process(const c10::SourceLocation&, const std::string& msg, const bool) override { messages.push_back(msg); }
  std::vector<std::string> messages;
};

void style_errors(const DeviceMesh& mesh) {
  // An empty plan warns and leaves the module alone (PyTorch: parallelize_plan=None).
  {
    MLPModule m;
    WarningRecorder recorder;
    {
      c10::Warning::WarningHandlerGuard guard(&recorder);
      tp::parallelize_module(m, mesh, tp::ParallelizePlan{});
    }
    if (mesh.get_rank() == 0) {  // the library logs on rank 0 only
      ASSERT_EQ(recorder.messages.size(), 1u);
      EXPECT_NE(recorder.messages[0].find("No parallelize_plan is provided and auto-parallel is not supported at "
                                          "the moment, so this parallelize_module call will do nothing."),
                std::string::npos)
          << recorder.messages[0];
    }
    EXPECT_FALSE(is_dtensor(m->net1->weight));
  }
  EXPECT_THROW_MSG(tp::parallelize_module(std::shared_ptr<torch::nn::Module>(), mesh, tp::ColwiseParallel()),
                   c10::ValueError, "parallelize_module: the module is null");
  // Colwise/Rowwise need a tensor as first argument.
  {
    MLPModule m;
    tp::parallelize_module(m, mesh, tp::ParallelizePlan{{"net1", tp::ColwiseParallel()}});
    EXPECT_THROW_MSG(m->net1(at::Tensor()), c10::ValueError,
                     "ColwiseParallel: the module's forward needs a tensor as its first argument");
  }
  // SequenceParallel: inputs[0] must be a tensor.
  {
    dtensor::nn::LayerNorm norm(torch::nn::LayerNormOptions({10}));
    tp::parallelize_module(norm, mesh, tp::SequenceParallel());
    EXPECT_THROW_MSG(norm(at::Tensor()), c10::ValueError,
                     "to be a torch.Tensor or DTensor, but got an undefined tensor");
  }
  // distribute_module twice on one module (here called directly, without a style).
  {
    MLPModule m;
    distribute_module(*m->net1, mesh);
    EXPECT_THROW_MSG(distribute_module(*m->net1, mesh), c10::Error,
                     "distribute_module should only be called once on a module, but it has already been called "
                     "on this module!");
  }
  // PrepareModuleInput at runtime: a layout given for an argument that is no tensor.
  {
    MLPModule m;
    tp::parallelize_module(m, mesh,
                           tp::PrepareModuleInput().input_layouts({Shard(0)}).desired_input_layouts({Replicate()}));
    EXPECT_THROW_MSG(m(at::Tensor()), c10::ValueError, "expecting input to be a torch.Tensor!");
  }
  // PrepareModuleOutput: both layouts are required; at runtime one layout per output, each a tensor.
  const auto no_desired = tp::PrepareModuleOutput().output_layouts({Shard(0)});
  EXPECT_THROW_MSG(tp::parallelize_module(MLPModule().ptr(), mesh, no_desired),
                   c10::ValueError, "PrepareModuleOutput needs both output_layouts and desired_output_layouts, but "
                                    "desired_output_layouts was not set");
  {
    TwoOutputs two(false);
    tp::parallelize_module(
        two, mesh, tp::PrepareModuleOutput().output_layouts({Replicate()}).desired_output_layouts({Replicate()}));
    EXPECT_THROW_MSG(two(at::ones({4, 2})), c10::ValueError,
                     "module outputs and output_layouts should have same length! Got 2 outputs and 1 layouts");
  }
  {
    TwoOutputs two(true);
    tp::parallelize_module(two, mesh, tp::PrepareModuleOutput()
                                          .output_layouts({Replicate(), Replicate()})
                                          .desired_output_layouts({Replicate(), Replicate()}));
    EXPECT_THROW_MSG(two(at::ones({4, 2})), c10::ValueError, "expecting output to be a torch.Tensor!");
  }
  // A module called through a plain torch holder never runs its style's hooks: the DTensor layer
  // meets its plain input beside DTensor parameters and names that cause.
  {
    auto plain = std::make_shared<PlainHoldersImpl>();
    tp::parallelize_module(plain, mesh, tp::ParallelizePlan{{"net1", tp::ColwiseParallel()}});
    EXPECT_THROW_MSG(plain->forward(at::ones({4, 10})), c10::TypeError,
                     "call the module through a hookable holder (dtensor::nn::ModuleHolder)");
  }
}

void loss_parallel_errors(const DeviceMesh& mesh2d) {
  auto guard = tp::loss_parallel();
  auto target = torch::randint(16, {8}, torch::kLong);
  auto logits = distribute_tensor(torch::rand({8, 16}), mesh2d, {Replicate(), Shard(1)});
  EXPECT_THROW_MSG(F::cross_entropy(logits, target), c10::ValueError,
                   "Currently loss_parallel() only supports input on one-dimensional DeviceMesh. Got logits on "
                   "the 2-D mesh");
}

void loss_parallel_plain_logits(const DeviceMesh& mesh) {
  auto guard = tp::loss_parallel();
  // A DTensor target sends nll_loss to the DTensor layer, whose loss_parallel needs DTensor logits.
  auto target = distribute_tensor(torch::randint(16, {8}, torch::kLong), mesh, {Replicate()});
  EXPECT_THROW_MSG(F::nll_loss(torch::rand({8, 16}).log_softmax(1), target), c10::ValueError,
                   "loss_parallel() needs DTensor logits sharded on dimension 1, got a plain tensor");
}

}  // namespace

TEST(ParallelErrors, StylesAndLossParallel) {
  run_world(2, [](int) {
    const auto mesh = init_device_mesh("cpu", {2});
    style_errors(mesh);
    loss_parallel_plain_logits(mesh);
    loss_parallel_errors(init_device_mesh("cpu", {1, 2}, {"dp", "tp"}));
  });
}
