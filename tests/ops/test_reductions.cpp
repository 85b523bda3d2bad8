// Reductions on DTensors: values and gradients against plain tensors for every input placement
// (op table), on 1-D worlds of 2, 3 (uneven) and 4 ranks and a 2x2 mesh; plus the placements
// and collectives the rules promise.
#include <cmath>

#include <dtensor/debug/comm_debug_mode.h>
#include <dtensor/dtensor.h>

#include "harness/expect.h"
#include "harness/multiprocess.h"
#include "harness/op_check.h"

using namespace dtensor;
using dtensor::testing::check_op;
using dtensor::testing::OpCase;
using dtensor::testing::run_world;
using Tensors = std::vector<at::Tensor>;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

OpCase unary(std::string name, at::Tensor x, std::function<Tensors(const at::Tensor&)> f) {
  OpCase c;
  c.name = std::move(name);
  c.inputs = {std::move(x)};
  c.fn = [f](const Tensors& t) { return f(t[0]); };
  return c;
}

OpCase one(std::string name, at::Tensor x, std::function<at::Tensor(const at::Tensor&)> f) {
  return unary(std::move(name), std::move(x), [f](const at::Tensor& t) { return Tensors{f(t)}; });
}

OpCase no_grad(OpCase c) {
  c.check_grads = false;
  return c;
}

// The 2-norm's backward computes (self / norm).masked_fill_(norm == 0, 0) on the saved input: a
// Partial input makes the quotient Partial, and the in-place masked_fill_ cannot reduce it (in-place
// ops keep their operand's placements). Forward and backward of the other placements are checked.
OpCase no_partial(OpCase c) {
  c.allow_partial_inputs = false;
  return c;
}

// Counting exact zeros: the random summands of a Partial input do not add back to exact zeros.
OpCase counts_zeros(OpCase c) {
  c.check_grads = false;
  c.allow_partial_inputs = false;
  return c;
}

// [5, 6] splits unevenly over 2 (dim 0), 3 (dim 0) and 4 ranks (both dims, with an empty piece).
std::vector<OpCase> reduction_cases() {
  at::manual_seed(11);
  const auto x = at::randn({5, 6}, at::kDouble);
  const auto x3 = at::randn({3, 4, 2}, at::kDouble);
  const auto positive = at::rand({4, 3}, at::kDouble) + 0.5;
  auto with_zeros = x.clone();
  with_zeros.index_put_({with_zeros.abs() < 0.5}, 0);
  return {
      one("sum", x, [](const at::Tensor& t) { return t.sum(); }),
      one("sum(dtype)", x.to(at::kFloat), [](const at::Tensor& t) { return t.sum(at::kDouble); }),
      one("sum.dim_IntList [1]", x, [](const at::Tensor& t) { return t.sum(1); }),
      one("sum.dim_IntList [0,1] keepdim", x, [](const at::Tensor& t) { return t.sum(at::IntArrayRef{0, 1}, true); }),
      one("sum.dim_IntList [-1] keepdim dtype", x3.to(at::kFloat), [](const at::Tensor& t) { return t.sum(at::IntArrayRef{-1}, true, at::kDouble); }),
      one("sum.dim_IntList [0,2] 3-D", x3, [](const at::Tensor& t) { return t.sum(at::IntArrayRef{0, 2}); }),
      one("nansum [0]", x, [](const at::Tensor& t) { return at::nansum(t, at::IntArrayRef{0}); }),
      one("mean", x, [](const at::Tensor& t) { return t.mean(); }),
      one("mean(dtype)", x.to(at::kFloat), [](const at::Tensor& t) { return t.mean(at::kDouble); }),
      one("mean.dim [0]", x, [](const at::Tensor& t) { return t.mean(0); }),
      one("mean.dim [1] keepdim", x, [](const at::Tensor& t) { return t.mean(at::IntArrayRef{1}, true); }),
      one("mean.dim [-1] keepdim 3-D (RMSNorm statistic)", x3, [](const at::Tensor& t) { return t.pow(2).mean(-1, true); }),
      one("amax [1]", x, [](const at::Tensor& t) { return t.amax(1); }),
      one("amax [0] keepdim", x, [](const at::Tensor& t) { return t.amax(0, true); }),
      one("amin [0,1]", x, [](const at::Tensor& t) { return t.amin(at::IntArrayRef{0, 1}); }),
      one("max()", x, [](const at::Tensor& t) { return t.max(); }),
      one("min()", x, [](const at::Tensor& t) { return t.min(); }),
      unary("max.dim 0", x, [](const at::Tensor& t) { auto r = t.max(0); return Tensors{std::get<0>(r), std::get<1>(r)}; }),
      unary("min.dim 1 keepdim", x, [](const at::Tensor& t) { auto r = t.min(1, true); return Tensors{std::get<0>(r), std::get<1>(r)}; }),
      one("argmax 0", x, [](const at::Tensor& t) { return t.argmax(0); }),
      one("argmax None", x, [](const at::Tensor& t) { return t.argmax(); }),
      one("argmin 1 keepdim", x, [](const at::Tensor& t) { return t.argmin(1, true); }),
      // prod has its own derivative on DTensors (exclusive cumprods): zeros need no special case.
      one("prod", positive, [](const at::Tensor& t) { return t.prod(); }),
      one("prod.dim_int 0", positive, [](const at::Tensor& t) { return t.prod(0); }),
      one("prod.dim_int 1 keepdim, with zeros", positive.mul(at::tensor({1.0, 0.0, 1.0}, at::kDouble)),
          [](const at::Tensor& t) { return t.prod(1, true); }),
      one("prod with one zero", positive * at::arange(12).reshape({4, 3}).ne(5),
          [](const at::Tensor& t) { return t.prod(); }),
      one("cumprod 0", positive, [](const at::Tensor& t) { return t.cumprod(0); }),
      one("cumprod 1", x, [](const at::Tensor& t) { return t.cumprod(1); }),
      one("var.correction [1]", x, [](const at::Tensor& t) { return t.var(at::IntArrayRef{1}); }),
      one("var.correction all, correction 0", x, [](const at::Tensor& t) { return t.var(false); }),
      one("std.correction [0] keepdim", x, [](const at::Tensor& t) { return t.std(at::IntArrayRef{0}, true, true); }),
      unary("var_mean.correction [1]", x, [](const at::Tensor& t) { auto r = at::var_mean(t, at::IntArrayRef{1}); return Tensors{std::get<0>(r), std::get<1>(r)}; }),
      unary("std_mean.correction [0]", x, [](const at::Tensor& t) { auto r = at::std_mean(t, at::IntArrayRef{0}); return Tensors{std::get<0>(r), std::get<1>(r)}; }),
      one("logsumexp [1]", x, [](const at::Tensor& t) { return t.logsumexp(at::IntArrayRef{1}); }),
      one("logsumexp [0,1] keepdim", x, [](const at::Tensor& t) { return t.logsumexp(at::IntArrayRef{0, 1}, true); }),
      no_partial(one("linalg_vector_norm 2", x, [](const at::Tensor& t) { return at::linalg_vector_norm(t); })),
      no_partial(one("linalg_vector_norm 2 [1]", x, [](const at::Tensor& t) { return at::linalg_vector_norm(t, 2, at::IntArrayRef{1}); })),
      one("linalg_vector_norm 1 [0]", x, [](const at::Tensor& t) { return at::linalg_vector_norm(t, 1, at::IntArrayRef{0}); }),
      one("linalg_vector_norm 3 [0,1] keepdim", x, [](const at::Tensor& t) { return at::linalg_vector_norm(t, 3, at::IntArrayRef{0, 1}, true); }),
      one("linalg_vector_norm 0.5", positive, [](const at::Tensor& t) { return at::linalg_vector_norm(t, 0.5); }),
      one("linalg_vector_norm inf", x, [](const at::Tensor& t) { return at::linalg_vector_norm(t, kInf); }),
      one("linalg_vector_norm -inf [0]", x, [](const at::Tensor& t) { return at::linalg_vector_norm(t, -kInf, at::IntArrayRef{0}); }),
      counts_zeros(one("linalg_vector_norm 0", with_zeros, [](const at::Tensor& t) { return at::linalg_vector_norm(t, 0); })),
      no_partial(one("linalg_vector_norm 2 dtype", x.to(at::kFloat), [](const at::Tensor& t) {
        return at::linalg_vector_norm(t, 2, c10::nullopt, false, at::kDouble);
      })),
      no_partial(one("norm.Scalar", x, [](const at::Tensor& t) { return t.norm(); })),
      no_partial(one("norm.ScalarOpt_dim 2 [1] keepdim", x, [](const at::Tensor& t) { return t.norm(2, at::IntArrayRef{1}, true); })),
      no_partial(one("norm.ScalarOpt_dtype", x.to(at::kFloat), [](const at::Tensor& t) { return at::norm(t, 2, at::kDouble); })),
      one("norm.ScalarOpt_dim_dtype 1 [0]", x.to(at::kFloat), [](const at::Tensor& t) { return at::norm(t, 1, at::IntArrayRef{0}, false, at::kDouble); }),
      one("cumsum 0", x, [](const at::Tensor& t) { return t.cumsum(0); }),
      one("cumsum 1 dtype", x.to(at::kFloat), [](const at::Tensor& t) { return t.cumsum(1, at::kDouble); }),
      no_grad(one("all", x.gt(-2), [](const at::Tensor& t) { return t.all(); })),
      no_grad(one("all.dim 0", x.gt(-0.5), [](const at::Tensor& t) { return t.all(0); })),
      no_grad(one("any", x.gt(1.5), [](const at::Tensor& t) { return t.any(); })),
      no_grad(one("any.dim 1 keepdim", x.gt(1.0), [](const at::Tensor& t) { return t.any(1, true); })),
      counts_zeros(one("count_nonzero", with_zeros, [](const at::Tensor& t) { return t.count_nonzero(); })),
      counts_zeros(one("count_nonzero.dim_IntList [0]", with_zeros, [](const at::Tensor& t) { return t.count_nonzero(at::IntArrayRef{0}); })),
      no_grad(one("sum of int64", x.mul(10).to(at::kLong), [](const at::Tensor& t) { return t.sum(0); })),
      no_grad(one("amax of int64 [0]", x.mul(10).to(at::kLong), [](const at::Tensor& t) { return t.amax(0); })),
  };
}

}  // namespace

TEST(ReductionsOpTable, Worlds) {
  for (int n : {2, 3, 4}) {
    run_world(n, [n](int) {
      int64_t total = 0;
      auto mesh = init_device_mesh("cpu", {n});
      for (const auto& c : reduction_cases()) total += check_op(c, mesh);
      dtensor::testing::report_op_cases("reductions (world " + std::to_string(n) + ")", total);
      if (n == 4) {
        int64_t total2d = 0;
        auto mesh2d = init_device_mesh("cpu", {2, 2});
        for (auto c : reduction_cases()) {
          c.max_cases = 8;
          total2d += check_op(c, mesh2d);
        }
        dtensor::testing::report_op_cases("reductions (2x2 mesh)", total2d);
      }
    });
  }
}

// The placements the rules promise, and where communication happens.
TEST(ReductionsPlacements, PartialsAndGathers) {
  run_world(4, [](int) {
    auto mesh = init_device_mesh("cpu", {4});
    at::manual_seed(5);
    const auto x = at::randn({8, 6}), u = at::randn({5, 6});
    auto even = distribute_tensor(x, mesh, {Shard(0)});
    auto uneven = distribute_tensor(u, mesh, {Shard(0)});
    auto out = [](const at::Tensor& t) { return DTensor(t); };
    {
      debug::CommDebugMode comm;
      EXPECT_EQ(out(even.sum(0)).placements(), Placements{Partial("sum")});
      EXPECT_EQ(out(even.sum(1)).placements(), Placements{Shard(0)});
      EXPECT_EQ(out(even.sum(1, true)).placements(), Placements{Shard(0)});
      EXPECT_EQ(out(even.mean(0)).placements(), Placements{Partial("avg")});
      EXPECT_EQ(out(even.amax(0)).placements(), Placements{Partial("max")});
      EXPECT_EQ(out(even.amin(0)).placements(), Placements{Partial("min")});
      EXPECT_EQ(out(even.prod(0)).placements(), Placements{Partial("product")});
      EXPECT_EQ(out(at::linalg_vector_norm(even, 1)).placements(), Placements{Partial("sum")});
      EXPECT_EQ(out(at::linalg_vector_norm(even, kInf)).placements(), Placements{Partial("max")});
      EXPECT_EQ(out(even.cumsum(1)).placements(), Placements{Shard(0)});
      EXPECT_EQ(comm.get_total_counts(), 0);
    }
    {
      // An uneven mean gathers first (avg of unequal pieces would be biased).
      debug::CommDebugMode comm;
      EXPECT_EQ(out(uneven.mean(0)).placements(), Placements{Replicate()});
      EXPECT_EQ(comm.get_comm_counts(), (std::map<std::string, int64_t>{{"all_gather", 1}}));
    }
    {
      // Index-returning reductions gather the reduced dim: local indices are not global.
      debug::CommDebugMode comm;
      auto [values, indices] = even.max(0);
      EXPECT_EQ(out(values).placements(), Placements{Replicate()});
      EXPECT_EQ(out(indices).placements(), Placements{Replicate()});
      EXPECT_TRUE(out(indices).to_local().equal(std::get<1>(x.max(0))));
      EXPECT_EQ(comm.get_comm_counts(), (std::map<std::string, int64_t>{{"all_gather", 1}}));
    }
    {
      // The 2-norm of a sharded tensor: one all_reduce of the local sums of squares.
      debug::CommDebugMode comm;
      auto norm = out(at::linalg_vector_norm(uneven, 2));
      EXPECT_EQ(norm.placements(), Placements{Replicate()});
      EXPECT_EQ(comm.get_comm_counts(), (std::map<std::string, int64_t>{{"all_reduce", 1}}));
      EXPECT_NEAR(norm.to_local().item<double>(), at::linalg_vector_norm(u, 2).item<double>(), 1e-5);
    }
    {
      // max() of an uneven tensor with an empty piece (3 elements over 4 ranks: 1, 1, 1, 0).
      auto three = distribute_tensor(at::randn({3}), mesh, {Shard(0)});
      EXPECT_EQ(out(three.max()).full_tensor().item<float>(), out(three).full_tensor().max().item<float>());
    }
  });
}

TEST(ReductionsPlacements, SequenceShardedRowStatistics) {
  // RMSNorm's statistic: mean over the hidden dim of a sequence-sharded activation keeps the shard.
  run_world(2, [](int) {
    auto mesh = init_device_mesh("cpu", {2});
    auto x = distribute_tensor(at::randn({2, 8, 4}), mesh, {Shard(1)});
    debug::CommDebugMode comm;
    auto stat = DTensor(x.pow(2).mean(-1, true));
    EXPECT_EQ(stat.placements(), Placements{Shard(1)});
    EXPECT_EQ(comm.get_total_counts(), 0);
  });
}
