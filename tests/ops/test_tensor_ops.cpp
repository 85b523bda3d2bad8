// Copies, casts, fills, factories and item() on DTensors: the op table (values and gradients
// against plain tensors for every placement, worlds 2, 3, 4 and a 2x2 mesh), then layouts and
// communication of each, the Partials casts keep, type promotion, and mixing plain tensors with
// DTensors.
#include <functional>

#include <dtensor/debug/comm_debug_mode.h>
#include <dtensor/dtensor.h>

#include "harness/expect.h"
#include "harness/multiprocess.h"
#include "pointwise_cases.h"

using namespace dtensor;
using dtensor::testing::OpCase;
using dtensor::testing::run_world;
using dtensor::testing::Tensors;

namespace {

OpCase make(std::string name, Tensors inputs, std::function<at::Tensor(const Tensors&)> fn, bool grads = true) {
  OpCase c;
  c.name = std::move(name);
  c.inputs = std::move(inputs);
  c.fn = [fn](const Tensors& x) { return Tensors{fn(x)}; };
  c.check_grads = grads;
  return c;
}

// copy_ into a clone of input 0 (keeping its placements), casting and broadcasting input 1.
at::Tensor copy_into_clone(const Tensors& t) {
  auto y = t[0].clone();
  return y.copy_(t[1]);
}

std::vector<OpCase> tensor_op_cases() {
  at::manual_seed(21);
  const auto x = at::randn({5, 6}), c = at::randn({4, 3, 6}), s0 = at::randn({});
  const auto b_double = at::randn({3, 6}, at::kDouble);
  std::vector<OpCase> cases{
      make("clone", {x}, [](const Tensors& t) { return t[0].clone(); }),
      make("clone of a transpose (contiguous)", {x}, [](const Tensors& t) { return t[0].t().contiguous(); }),
      make("clone channels-last-free preserve", {c}, [](const Tensors& t) { return t[0].clone(at::MemoryFormat::Preserve); }),
      make("detach", {x}, [](const Tensors& t) { return t[0].detach() * 1; }),
      make("alias", {x}, [](const Tensors& t) { return at::alias(t[0]); }),
      make("to double", {x}, [](const Tensors& t) { return t[0].to(at::kDouble); }),
      make("to int", {x}, [](const Tensors& t) { return (t[0] * 4).to(at::kInt); }, false),
      make("to bool", {x}, [](const Tensors& t) { return t[0].to(at::kBool); }, false),
      make("to half and back", {x}, [](const Tensors& t) { return t[0].to(at::kHalf).to(at::kFloat); }),
      make("zeros_like", {x}, [](const Tensors& t) { return at::zeros_like(t[0]); }),
      make("ones_like int", {x}, [](const Tensors& t) { return at::ones_like(t[0], at::kInt); }),
      make("full_like", {c}, [](const Tensors& t) { return at::full_like(t[0], 3.5); }),
      make("empty_like then fill_", {c}, [](const Tensors& t) { return at::empty_like(t[0]).fill_(-1); }),
      make("new_zeros", {x}, [](const Tensors& t) { return t[0].new_zeros({2, 3}); }),
      make("new_ones", {x}, [](const Tensors& t) { return t[0].new_ones({4}); }),
      make("new_full", {x}, [](const Tensors& t) { return t[0].new_full({3, 2}, 1.5); }),
      make("new_empty then zero_", {x}, [](const Tensors& t) { return t[0].new_empty({2, 2}).zero_(); }),
      make("new_empty_strided then fill_", {x},
           [](const Tensors& t) { return t[0].new_empty_strided({2, 3}, {1, 2}).fill_(2); }),
      make("fill (functional)", {x}, [](const Tensors& t) { return at::fill(t[0], 0.25); }),
      make("zero (functional)", {x}, [](const Tensors& t) { return at::zero(t[0]); }),
      make("fill_.Scalar", {x},
           [](const Tensors& t) {
             auto y = t[0].clone();
             return y.fill_(2.5);
           }),
      make("fill_.Tensor", {x, s0},
           [](const Tensors& t) {
             auto y = t[0].clone();
             return y.fill_(t[1]);
           }),
      make("zero_", {x},
           [](const Tensors& t) {
             auto y = t[0].clone();
             return y.zero_();
           }),
      make("copy_ same shape", {x, at::randn({5, 6})}, copy_into_clone),
      make("copy_ double [3, 6] into float [4, 3, 6]", {c, b_double}, copy_into_clone),
  };
  // A Partial self needs its source Partial, which a Shard source cannot become.
  for (size_t k = cases.size() - 2; k < cases.size(); ++k) {
    cases[k].raises = [](const std::vector<Placements>& ps, const DeviceMesh&) {
      for (size_t m = 0; m < ps[0].size(); ++m)
        if (ps[0][m].is_partial() && ps[1][m].is_shard()) return true;
      return false;
    };
  }
  return cases;
}

void run_tensor_op_table(int world) {
  run_world(world, [=](int) {
    const int64_t n = dtensor::testing::run_op_table("tensor ops", world, tensor_op_cases(), 64, 12);
    EXPECT_GT(n, 0);
  });
}

DTensor partial_sum(const at::Tensor& full, const DeviceMesh& mesh) {
  const int64_t rank = mesh.get_coordinate()->at(0), n = mesh.size(0);
  auto noise = at::ones_like(full) * 0.375;
  return DTensor::from_local(rank == 0 ? full - noise * (n - 1) : noise, mesh, {Partial()});
}

int64_t comm_count(const std::function<void()>& f) {
  debug::CommDebugMode comm;
  f();
  return comm.get_total_counts();
}

}  // namespace

TEST(TensorOpsOpTable, World2) { run_tensor_op_table(2); }
TEST(TensorOpsOpTable, World3) { run_tensor_op_table(3); }
TEST(TensorOpsOpTable, World4And2x2) { run_tensor_op_table(4); }

// Layouts and communication of the copy/fill/factory ops.
TEST(TensorOps, LayoutsWithoutCommunication) {
  run_world(3, [](int) {
    auto mesh = init_device_mesh("cpu", {3});
    at::manual_seed(4);
    const auto v = at::randn({5, 4}), src = at::randn({5, 4});
    auto s0 = distribute_tensor(v, mesh, {Shard(0)});
    auto r = distribute_tensor(src, mesh, {Replicate()});
    auto p = partial_sum(v, mesh);
    DTensor like, fresh, copied, filled, zeroed, cast;
    const int64_t n = comm_count([&] {
      like = DTensor(at::zeros_like(p));
      fresh = DTensor(p.new_full({2, 2}, 7.0));
      copied = DTensor(p.clone());
      copied.copy_(r);  // a Partial self: the source becomes Partial locally
      filled = DTensor(p.clone());
      filled.fill_(1.25);  // only coordinate 0 holds the value: the sum is the value
      zeroed = DTensor(p.clone());
      zeroed.zero_();
      cast = DTensor(s0.to(at::kDouble));
      s0.copy_(r);  // a Shard self takes its rows of the replicated source
      EXPECT_TRUE(s0.is_same_size(p));
    });
    EXPECT_EQ(n, 0);
    EXPECT_EQ(like.placements(), Placements{Replicate()});
    EXPECT_EQ(fresh.placements(), Placements{Replicate()});
    EXPECT_EQ(copied.placements(), Placements{Partial()});
    EXPECT_EQ(filled.placements(), Placements{Partial()});
    EXPECT_EQ(zeroed.placements(), Placements{Partial()});
    EXPECT_EQ(cast.placements(), Placements{Shard(0)});
    EXPECT_EQ(s0.placements(), Placements{Shard(0)});
    EXPECT_TRUE(at::equal(like.full_tensor(), at::zeros({5, 4})));
    EXPECT_TRUE(at::equal(fresh.full_tensor(), at::full({2, 2}, 7.0)));
    EXPECT_TRUE(at::allclose(copied.full_tensor(), src));
    EXPECT_TRUE(at::allclose(filled.full_tensor(), at::full({5, 4}, 1.25)));
    EXPECT_TRUE(at::equal(zeroed.full_tensor(), at::zeros({5, 4})));
    EXPECT_TRUE(at::allclose(cast.full_tensor(), v.to(at::kDouble)));
    EXPECT_TRUE(at::equal(s0.full_tensor(), src));
  });
}

// A cast keeps a Partial only where it commutes with the reduction: Partial(sum) through a
// widening floating cast (every summand is exact in the wider type), Partial(max) through any cast
// but to bool (casts are non-decreasing). A narrowing or integer cast would round or truncate each
// summand instead of their sum, so the Partial is reduced first.
TEST(TensorOps, CastsKeepOnlyPartialsTheyCommuteWith) {
  run_world(2, [](int) {
    auto mesh = init_device_mesh("cpu", {2});
    at::manual_seed(8);
    const auto v = at::round(at::randn({4, 3}) * 24) / 8;  // multiples of 1/8: exact reductions
    auto psum = partial_sum(v, mesh);
    auto pmax = DTensor::from_local(mesh.get_coordinate()->at(0) == 0 ? v : v - 1, mesh, {Partial("max")});
    struct Case {
      const char* what;
      std::function<at::Tensor()> cast;
      Placement placement;
      int64_t all_reduces;
      at::Tensor expected;
    };
    const std::vector<Case> cases{
        {"sum to double", [&] { return psum.to(at::kDouble); }, Partial(), 0, v.to(at::kDouble)},
        {"sum to half", [&] { return psum.to(at::kHalf); }, Replicate(), 1, v.to(at::kHalf)},
        {"sum to int", [&] { return psum.to(at::kInt); }, Replicate(), 1, v.to(at::kInt)},
        {"max to int", [&] { return pmax.to(at::kInt); }, Partial("max"), 0, v.to(at::kInt)},
        {"max to half", [&] { return pmax.to(at::kHalf); }, Partial("max"), 0, v.to(at::kHalf)},
        {"max to bool", [&] { return pmax.to(at::kBool); }, Replicate(), 1, v.to(at::kBool)},
    };
    for (const auto& c : cases) {
      SCOPED_TRACE(c.what);
      debug::CommDebugMode comm;
      auto out = DTensor(c.cast());
      EXPECT_EQ(comm.get_total_counts(), c.all_reduces);
      EXPECT_EQ(comm.get_comm_counts()["all_reduce"], c.all_reduces);
      EXPECT_EQ(out.placements(), Placements{c.placement});
      const auto full = out.full_tensor();
      EXPECT_EQ(full.scalar_type(), c.expected.scalar_type());
      EXPECT_TRUE(at::equal(full, c.expected)) << (full.to(at::kDouble) - c.expected.to(at::kDouble)).abs().max();
    }
  });
}

TEST(TensorOps, ItemAndEqualNeedWholeValues) {
  run_world(3, [](int) {
    auto mesh = init_device_mesh("cpu", {3});
    auto one = distribute_tensor(at::full({1}, 2.5), mesh, {Shard(0)});  // held by rank 0 only
    EXPECT_EQ(one.item<float>(), 2.5f);
    auto p = partial_sum(at::full({}, 4.0), mesh);
    EXPECT_EQ(comm_count([&] { EXPECT_FLOAT_EQ(p.item<float>(), 4.0f); }), 1);
    auto r = distribute_tensor(at::full({}, -1.5), mesh, {Replicate()});
    EXPECT_EQ(comm_count([&] { EXPECT_EQ(r.item<float>(), -1.5f); }), 0);

    at::manual_seed(9);
    // Multiples of 1/8: the Partial summands (v - 0.75, 0.375, 0.375) add up to v exactly, which
    // equal's exact comparison needs; arbitrary floats would come back rounded.
    const auto v = at::round(at::randn({5, 4}) * 8) / 8;
    auto a = distribute_tensor(v, mesh, {Shard(0)}), b = distribute_tensor(v, mesh, {Shard(1)});
    auto c = distribute_tensor(v + 1e-3, mesh, {Replicate()});
    EXPECT_TRUE(at::equal(a, b));
    EXPECT_FALSE(at::equal(a, c));
    EXPECT_TRUE(at::equal(partial_sum(v, mesh), distribute_tensor(v, mesh, {Replicate()})));
  });
}

// Result dtypes follow ATen's promotion, including Python-style scalars that reach DTensor as
// wrapped 0-dim tensors from composite ops (they rank below every dimensioned tensor).
TEST(TensorOps, TypePromotion) {
  run_world(2, [](int) {
    auto mesh = init_device_mesh("cpu", {2});
    at::manual_seed(5);  // the references are computed on every rank: the same values everywhere
    const auto iv = at::arange(12, at::kLong).reshape({3, 4}), fv = at::randn({3, 4});
    const auto cond = fv > 0;
    auto i = distribute_tensor(iv, mesh, {Shard(0)});
    auto f = distribute_tensor(fv, mesh, {Shard(1)});
    auto d = distribute_tensor(fv.to(at::kDouble), mesh, {Replicate()});
    auto m = distribute_tensor(cond, mesh, {Shard(0)});
    struct Case {
      const char* what;
      at::Tensor out, expected;
    };
    const std::vector<Case> cases{
        {"int + float scalar", i + 2.5, iv + 2.5},
        {"int * bool", i * m, iv * cond},
        {"float + double", f + d, fv + fv.to(at::kDouble)},
        {"float * 0-dim double DTensor", f * distribute_tensor(at::full({}, 2.0, at::kDouble), mesh, {Replicate()}),
         fv * at::full({}, 2.0, at::kDouble)},
        {"where(cond, int, 2.5): wrapped scalar", at::where(m, i, 2.5), at::where(cond, iv, 2.5)},
        {"where(cond, int, 0-dim double tensor)", at::where(m, i, at::full({}, 2.5, at::kDouble)),
         at::where(cond, iv, at::full({}, 2.5, at::kDouble))},
        {"where(cond, int, 2.5) again (cached)", at::where(m, i, 2.5), at::where(cond, iv, 2.5)},
        {"int / int", i / (i + 1), iv / (iv + 1)},
        {"int.div(floor)", at::div(i, 5, "floor"), at::div(iv, 5, "floor")},
        {"sqrt(int)", at::sqrt(i), at::sqrt(iv)},
        {"int < float", i < f, iv < fv},
        {"bool mask where float", at::where(m, f, d), at::where(cond, fv, fv.to(at::kDouble))},
    };
    for (const auto& c : cases) {
      ASSERT_TRUE(is_dtensor(c.out)) << c.what;
      auto full = DTensor(c.out).full_tensor();
      EXPECT_EQ(full.scalar_type(), c.expected.scalar_type()) << c.what;
      EXPECT_EQ(c.out.scalar_type(), c.expected.scalar_type()) << c.what << " (DTensor dtype)";
      EXPECT_EQ(DTensor(c.out).to_local().scalar_type(), c.expected.scalar_type()) << c.what << " (local dtype)";
      EXPECT_TRUE(at::allclose(full.to(at::kDouble), c.expected.to(at::kDouble))) << c.what;
    }
  });
}

TEST(TensorOps, PlainTensorsMixedWithDTensors) {
  run_world(2, [](int) {
    auto mesh = init_device_mesh("cpu", {2});
    // The same values on every rank: under ImplicitReplicationGuard `plain` counts as Replicate.
    at::manual_seed(6);
    const auto v = at::randn({4, 6}), plain = at::randn({4, 6});
    auto s = distribute_tensor(v, mesh, {Shard(0)});
    EXPECT_THROW_MSG(s + plain, c10::TypeError, "got a plain tensor as argument 'other' (shape [4, 6])");
    EXPECT_THROW_MSG(s.mul_(plain), c10::TypeError, "ImplicitReplicationGuard");
    // One element, 0-dim or [1]: replicated without asking.
    auto one = at::full({1}, 3.0), scalar = at::full({}, -2.0);
    EXPECT_TRUE(at::allclose(DTensor(s * one).full_tensor(), v * 3));
    EXPECT_TRUE(at::allclose(DTensor(s + scalar).full_tensor(), v - 2));
    {
      ImplicitReplicationGuard guard;
      auto out = DTensor(s + plain);
      EXPECT_EQ(out.placements(), Placements{Shard(0)});
      EXPECT_TRUE(at::allclose(out.full_tensor(), v + plain));
      auto target = plain.clone();
      EXPECT_THROW_MSG(target.add_(s), c10::Error, "writes into the plain tensor");
    }
    EXPECT_THROW_MSG(s - plain, c10::TypeError, "got a plain tensor");
    EXPECT_THROW_MSG(s.to(at::kMeta), c10::NotImplementedError, "moving a DTensor to meta");
  });
}
