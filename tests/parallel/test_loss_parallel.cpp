// Port of PyTorch's test_loss_parallel: vocabulary-parallel cross entropy for 2-D and 3-D logits,
// every reduction, class weights and ignore_index; 3 all_reduces forward, none backward.
#include <torch/nn/functional/loss.h>

#include <dtensor/dtensor.h>

#include "harness/expect.h"
#include "harness/multiprocess.h"

using namespace dtensor;
namespace tp = dtensor::parallel;
namespace F = torch::nn::functional;
using dtensor::debug::CommDebugMode;
using dtensor::testing::run_world;

namespace {

F::CrossEntropyFuncOptions options_for(int reduction, const at::Tensor& weight, int64_t ignore_index) {
  F::CrossEntropyFuncOptions o;
  if (reduction == 0) o.reduction(torch::kNone);
  else if (reduction == 1) o.reduction(torch::kMean);
  else o.reduction(torch::kSum);
  if (weight.defined()) o.weight(weight);
  return o.ignore_index(ignore_index);
}

void check_cross_entropy(const DeviceMesh& mesh, std::vector<int64_t> input_size, std::vector<int64_t> target_size,
                         bool with_weight, int64_t ignore_index) {
  const int64_t channels = input_size[1];
  torch::manual_seed(0);
  auto x = torch::rand(input_size, torch::requires_grad());
  auto target = torch::randint(channels, target_size, torch::kLong);
  if (ignore_index >= 0) target.flatten().slice(0, 0, 3).fill_(ignore_index);
  auto weight = with_weight ? torch::rand({channels}) : at::Tensor();
  for (int reduction : {0, 1, 2}) {
    SCOPED_TRACE("input " + c10::str(c10::IntArrayRef(input_size)) + " reduction " + std::to_string(reduction) +
                 (with_weight ? " weighted" : "") + " ignore_index " + std::to_string(ignore_index));
    auto opts = options_for(reduction, weight, ignore_index >= 0 ? ignore_index : -100);
    auto dist_x = distribute_tensor(x.detach(), mesh, {Shard(1)}).set_requires_grad(true);
    auto y = F::cross_entropy(x, target, opts);
    auto guard = tp::loss_parallel();
    CommDebugMode comm;
    auto dist_y = DTensor(F::cross_entropy(dist_x, target, opts));
    EXPECT_EQ(comm.get_comm_counts(), (std::map<std::string, int64_t>{{"all_reduce", 3}}));
    EXPECT_TRUE(dist_y.placements()[0].is_replicate());
    EXPECT_TRUE(dist_y.to_local().allclose(y, 1e-5, 1e-6));
    CommDebugMode backward_comm;
    if (reduction == 0) {
      y.sum().backward();
      dist_y.sum().backward();
    } else {
      y.backward();
      dist_y.backward();
    }
    EXPECT_EQ(backward_comm.get_total_counts(), 0) << backward_comm.table();
    DTensor grad(dist_x.grad());
    EXPECT_TRUE(grad.placements()[0].is_shard(1));
    EXPECT_TRUE(grad.full_tensor().allclose(x.grad(), 1e-5, 1e-6));
    x.grad().zero_();
  }
}

}  // namespace

TEST(LossParallel, CrossEntropyEveryReduction) {
  for (int n : {2, 4}) {
    run_world(n, [](int) {
      auto mesh = init_device_mesh("cpu", {get_world_size()});
      check_cross_entropy(mesh, {8, 16}, {8}, false, -1);
      check_cross_entropy(mesh, {8, 16, 12}, {8, 12}, false, -1);
      check_cross_entropy(mesh, {8, 16}, {8}, true, 3);
      check_cross_entropy(mesh, {8, 16, 12}, {8, 12}, true, 5);
    });
  }
}

TEST(LossParallel, UnevenVocabulary) {
  run_world(4, [](int) {
    auto mesh = init_device_mesh("cpu", {4});
    check_cross_entropy(mesh, {6, 13}, {6}, true, 2);  // 13 classes: shards 4,4,4,1
    check_cross_entropy(mesh, {6, 3}, {6}, false, -1); // 3 classes: one rank holds none
  });
}

TEST(LossParallel, LogitsNotShardedOnTheClassDim) {
  run_world(2, [](int) {
    auto mesh = init_device_mesh("cpu", {2});
    auto x = distribute_tensor(torch::rand({8, 16}), mesh, {Shard(0)});
    auto target = torch::randint(16, {8}, torch::kLong);
    auto guard = tp::loss_parallel();
    EXPECT_THROW_MSG(F::cross_entropy(x, target), c10::ValueError,
                     "loss_parallel() should be enabled only when the input tensor is sharded on dimension 1");
  });
}

TEST(LossParallel, TargetWithWrongPlacements) {
  run_world(2, [](int) {
    auto mesh = init_device_mesh("cpu", {2});
    auto x = distribute_tensor(torch::rand({8, 16}), mesh, {Shard(1)});
    auto target = distribute_tensor(torch::randint(16, {8}, torch::kLong), mesh, {Shard(0)});
    auto guard = tp::loss_parallel();
    EXPECT_THROW_MSG(F::nll_loss(F::log_softmax(x, 1), target), c10::Error, "Expected [R] but got [S(0)]");
  });
}

TEST(LossParallel, GuardRestoresNormalBehaviourOnUnwind) {
  run_world(2, [](int) {
    auto mesh = init_device_mesh("cpu", {2});
    auto x = distribute_tensor(torch::rand({8, 16}), mesh, {Shard(0)});
    try {
      auto guard = tp::loss_parallel();
      throw std::runtime_error("user error inside the guard");
    } catch (const std::runtime_error&) {
    }
    // Outside the guard a batch-sharded log_softmax is an ordinary op again.
    auto y = DTensor(F::log_softmax(x, 1));
    EXPECT_EQ(y.placements(), Placements{Shard(0)});
    auto moved = tp::loss_parallel();
    auto still = std::move(moved);
    EXPECT_THROW_MSG(F::log_softmax(x, 1), c10::ValueError, "loss_parallel");
  });
}
