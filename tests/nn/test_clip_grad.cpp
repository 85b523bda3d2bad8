// dtensor::nn::utils::clip_grad_norm_ over DTensor (Shard, uneven Shard, Partial-gradient
// Replicate) and plain parameters against torch::nn::utils::clip_grad_norm_ on the full tensors.
#include <cmath>
#include <limits>

#include <torch/types.h>  // clip_grad.h is not self-contained
#include <torch/nn/utils/clip_grad.h>

#include <dtensor/dtensor.h>

#include "harness/multiprocess.h"

namespace {

using dtensor::DTensor;
using dtensor::Partial;
using dtensor::Placements;
using dtensor::Replicate;
using dtensor::Shard;

struct Param {
  at::Tensor full_value, full_grad;  // the reference (plain)
  Placements placements;             // empty: a plain parameter
  bool partial_grad = false;         // Replicate parameter whose gradient arrives as Partial(sum)
};

// Distributes `p` onto `mesh` with its gradient attached.
at::Tensor make_parameter(const Param& p, const dtensor::DeviceMesh& mesh, int rank) {
  if (p.placements.empty()) {
    auto t = p.full_value.clone().requires_grad_(true);
    t.mutable_grad() = p.full_grad.clone();
    return t;
  }
  at::Tensor t = dtensor::distribute_tensor(p.full_value, mesh, p.placements).requires_grad_(true);
  if (p.partial_grad) {
    // Summands that add up to the gradient: rank 0 holds the gradient minus the others' pieces.
    auto piece = at::full_like(p.full_grad, 0.125);
    auto local = rank == 0 ? p.full_grad - piece * (mesh.size() - 1) : piece;
    t.mutable_grad() = DTensor::from_local(local, mesh, {Partial()});
  } else {
    t.mutable_grad() = dtensor::distribute_tensor(p.full_grad, mesh, p.placements);
  }
  return t;
}

at::Tensor full_grad(const at::Tensor& param) {
  return dtensor::is_dtensor(param.grad()) ? DTensor(param.grad()).full_tensor() : param.grad();
}

// Clips the same gradients both ways and compares totals and clipped gradients. Returns the
// all_reduce count of the DTensor clip.
int64_t check_clip(const std::vector<Param>& params, const dtensor::DeviceMesh& mesh, int rank, double max_norm,
                   double norm_type) {
  std::vector<at::Tensor> ours, reference;
  for (const auto& p : params) {
    ours.push_back(make_parameter(p, mesh, rank));
    auto r = p.full_value.clone().requires_grad_(true);
    r.mutable_grad() = p.full_grad.clone();
    reference.push_back(r);
  }
  const double expected = torch::nn::utils::clip_grad_norm_(reference, max_norm, norm_type);
  at::Tensor total;
  int64_t all_reduces = 0;
  {
    dtensor::debug::CommDebugMode comm;
    total = dtensor::nn::utils::clip_grad_norm_(ours, max_norm, norm_type);
    auto counts = comm.get_comm_counts();
    all_reduces = counts.count("all_reduce") ? counts.at("all_reduce") : 0;
    EXPECT_EQ(comm.get_total_counts(), all_reduces) << "only all_reduces are needed";
  }
  EXPECT_FALSE(dtensor::is_dtensor(total)) << "the total norm is a plain scalar on every rank";
  EXPECT_NEAR(total.item<double>(), expected, 1e-4 * std::max(1.0, expected)) << "norm_type " << norm_type;
  for (size_t i = 0; i < params.size(); ++i) {
    EXPECT_TRUE(at::allclose(full_grad(ours[i]), reference[i].grad(), 1e-5, 1e-5))
        << "parameter " << i << ", norm_type " << norm_type << ", max_norm " << max_norm;
    if (params[i].partial_grad) {
      EXPECT_TRUE(DTensor(ours[i].grad()).placements()[0].is_replicate())
          << "a Partial gradient is replaced by its reduction, for the optimizer";
    }
  }
  return all_reduces;
}

}  // namespace

TEST(ClipGradNorm, MixedDTensorAndPlainParametersMatchLibtorch) {
  for (int world : {2, 3}) {
    dtensor::testing::run_world(world, [](int rank) {
      auto mesh = dtensor::init_device_mesh("cpu", {dtensor::get_world_size()});
      at::manual_seed(11);  // the same full tensors on every rank
      std::vector<Param> params{
          {at::randn({7, 4}), at::randn({7, 4}), {Shard(0)}},         // uneven rows on 2 and 3 ranks
          {at::randn({4, 5}), at::randn({4, 5}), {Shard(1)}},         // uneven columns
          {at::randn({4}), at::randn({4}), {Replicate()}, true},      // a sequence-parallel norm weight
          {at::randn({6}), at::randn({6}), {Replicate()}},            // replicated, counted once
          {at::randn({3}), at::randn({3}), {}},                       // a plain parameter
      };
      for (double norm_type : {2.0, 1.0, std::numeric_limits<double>::infinity()}) {
        // One all_reduce for the sharded bucket, one to reduce the Partial gradient.
        EXPECT_EQ(check_clip(params, mesh, rank, 0.5, norm_type), 2);
        EXPECT_EQ(check_clip(params, mesh, rank, 1e6, norm_type), 2) << "no clipping needed";
      }
    });
  }
}

TEST(ClipGradNorm, TwoDimensionalMeshReducesEachShardedMeshDimOnce) {
  dtensor::testing::run_world(4, [](int rank) {
    auto mesh = dtensor::init_device_mesh("cpu", {2, 2}, {"dp", "tp"});
    at::manual_seed(12);
    std::vector<Param> params{
        {at::randn({6, 4}), at::randn({6, 4}), {Replicate(), Shard(0)}},  // bucket {tp}
        {at::randn({5, 3}), at::randn({5, 3}), {Replicate(), Shard(1)}},  // bucket {tp}
        {at::randn({4, 6}), at::randn({4, 6}), {Shard(0), Shard(1)}},     // bucket {dp, tp}
        {at::randn({5}), at::randn({5}), {Replicate(), Replicate()}},     // no reduction
    };
    EXPECT_EQ(check_clip(params, mesh, rank, 0.5, 2.0), 3);
  });
}

TEST(ClipGradNorm, NonFiniteNormIsAnErrorOnlyWhenAsked) {
  dtensor::testing::run_world(2, [](int rank) {
    auto mesh = dtensor::init_device_mesh("cpu", {2});
    auto p = dtensor::distribute_tensor(at::ones({4, 2}), mesh, {Shard(0)}).requires_grad_(true);
    auto g = at::ones({4, 2});
    g[3][1] = std::numeric_limits<float>::infinity();
    p.mutable_grad() = dtensor::distribute_tensor(g, mesh, {Shard(0)});
    try {
      dtensor::nn::utils::clip_grad_norm_({p}, 1.0, 2.0, /*error_if_nonfinite=*/true);
      ADD_FAILURE() << "expected an error for an infinite norm";
    } catch (const c10::Error& e) {
      EXPECT_NE(std::string(e.what()).find("error_if_nonfinite"), std::string::npos) << e.what();
    }
    auto total = dtensor::nn::utils::clip_grad_norm_({p}, 1.0, 2.0);
    EXPECT_TRUE(std::isinf(total.item<double>())) << "every rank sees the infinite element of rank 1";
  });
}
