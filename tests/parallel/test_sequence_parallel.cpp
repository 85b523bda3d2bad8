// Port of test_tp_style's test_sequence_parallel_style: norms on sequence-sharded inputs, no
// communication, Partial parameter gradients.
#include <dtensor/dtensor.h>

#include "harness/expect.h"
#include "harness/multiprocess.h"

using namespace dtensor;
namespace tp = dtensor::parallel;
using dtensor::debug::CommDebugMode;
using dtensor::testing::run_world;

namespace {

template <class Holder>
void check_norm(Holder module, Holder ref, const DeviceMesh& mesh) {
  const int64_t n = mesh.size();
  tp::parallelize_module(module, mesh, tp::SequenceParallel());
  torch::manual_seed(1);
  auto x = torch::rand({20, 8 * n, 12});
  auto dx = distribute_tensor(x, mesh, {Shard(1)}).set_requires_grad(true);
  auto x_ref = x.clone().requires_grad_(true);
  CommDebugMode comm;
  auto out = DTensor(module(dx));
  out.sum().backward();
  EXPECT_EQ(comm.get_total_counts(), 0) << comm.table();
  EXPECT_EQ(out.placements(), Placements{Shard(1)});
  auto expect = ref(x_ref);
  expect.sum().backward();
  EXPECT_TRUE(out.full_tensor().allclose(expect, 1e-5, 1e-6));
  EXPECT_TRUE(DTensor(dx.grad()).full_tensor().allclose(x_ref.grad(), 1e-5, 1e-6));
  auto ref_params = ref->named_parameters();
  for (const auto& p : module->named_parameters()) {
    DTensor g(p.value().grad());
    EXPECT_EQ(g.placements(), Placements{Partial()}) << p.key() << ": a sum over the sharded sequence";
    EXPECT_TRUE(g.full_tensor().allclose(ref_params[p.key()].grad(), 1e-4, 1e-5)) << p.key();
  }
}

}  // namespace

TEST(SequenceParallel, NormsNeedNoCommunication) {
  for (int n : {2, 4}) {
    run_world(n, [n](int) {
      auto mesh = init_device_mesh("cpu", {n});
      check_norm(dtensor::nn::LayerNorm(torch::nn::LayerNormOptions({12})),
                 dtensor::nn::LayerNorm(torch::nn::LayerNormOptions({12})), mesh);
      check_norm(dtensor::nn::LayerNorm(torch::nn::LayerNormOptions({12}).elementwise_affine(false)),
                 dtensor::nn::LayerNorm(torch::nn::LayerNormOptions({12}).elementwise_affine(false)), mesh);
      check_norm(dtensor::nn::RMSNorm(12), dtensor::nn::RMSNorm(12), mesh);
    });
  }
}

TEST(SequenceParallel, RedistributesOtherShardings) {
  run_world(2, [](int) {
    auto mesh = init_device_mesh("cpu", {2});
    dtensor::nn::RMSNorm norm(12), ref(12);
    tp::parallelize_module(norm, mesh, tp::SequenceParallel());
    torch::manual_seed(1);
    auto x = torch::rand({16, 16, 12});
    auto dx = distribute_tensor(x, mesh, {Shard(0)}).set_requires_grad(true);
    CommDebugMode comm;
    auto out = DTensor(norm(dx));
    out.sum().backward();
    EXPECT_EQ(out.placements(), Placements{Shard(1)});
    EXPECT_EQ(comm.get_comm_counts(), (std::map<std::string, int64_t>{{"all_to_all", 2}}));
    EXPECT_TRUE(out.full_tensor().allclose(ref(x), 1e-5, 1e-6));
  });
}

TEST(SequenceParallel, PlainInputIsTakenAsTheLocalSequencePiece) {
  run_world(2, [](int rank) {
    auto mesh = init_device_mesh("cpu", {2});
    dtensor::nn::LayerNorm norm(torch::nn::LayerNormOptions({6})), ref(torch::nn::LayerNormOptions({6}));
    tp::parallelize_module(norm, mesh, tp::SequenceParallel().use_local_output(true));
    torch::manual_seed(4);
    auto x = torch::rand({3, 8, 6});
    auto out = norm(x.chunk(2, 1)[rank]);
    EXPECT_FALSE(is_dtensor(out));
    EXPECT_TRUE(out.allclose(ref(x).chunk(2, 1)[rank], 1e-5, 1e-6));
  });
}

TEST(SequenceParallel, DropoutIsShardingInvariant) {
  run_world(4, [](int) {
    auto mesh = init_device_mesh("cpu", {4});
    dtensor::nn::Dropout drop(0.5), drop_replicated(0.5);
    tp::parallelize_module(drop, mesh, tp::SequenceParallel());
    auto x = torch::ones({4, 8, 6});
    dtensor::manual_seed(7, mesh);
    auto sharded = DTensor(drop(distribute_tensor(x, mesh, {Shard(1)}))).full_tensor();
    dtensor::manual_seed(7, mesh);
    auto replicated = DTensor(drop_replicated(distribute_tensor(x, mesh, {Replicate()}))).full_tensor();
    EXPECT_TRUE(sharded.equal(replicated)) << "the mask must not depend on the placements";
    const double kept = (sharded != 0).to(at::kDouble).mean().item<double>();
    EXPECT_GT(kept, 0.3);
    EXPECT_LT(kept, 0.7);
  });
}
