// The DTensor API (SEMANTICS 2.3, section 5): from_local, to_local, full_tensor,
// distribute_tensor, ranks outside the mesh, grad-mode guards, printing, and every error of this
// layer with its exact type and a stable part of PyTorch's message.
#include <sstream>
#include <typeinfo>

#include <c10/core/InferenceMode.h>
#include <dtensor/dtensor.h>

#include "harness/expect.h"
#include "harness/layout.h"
#include "harness/multiprocess.h"

using namespace dtensor;
using dtensor::debug::CommDebugMode;
using dtensor::testing::piece;
using dtensor::testing::run_world;
using Counts = std::map<std::string, int64_t>;

namespace {

// The error is exactly `E`: a plain c10::Error must not be a ValueError and vice versa.
template <class E, class F>
void rethrow_exact(F&& f) {
  try {
    f();
  } catch (const c10::Error& e) {
    EXPECT_STREQ(typeid(e).name(), typeid(E).name()) << "wrong exception type for: " << e.what_without_backtrace();
    throw;
  }
}
#define EXPECT_ERROR(stmt, type, fragment) \
  EXPECT_THROW_MSG(rethrow_exact<type>([&] { stmt; }), type, fragment)

at::Tensor integers(at::IntArrayRef shape, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randint(-9, 10, shape, gen, at::TensorOptions().dtype(at::kLong)).to(at::kFloat);
}


std::vector<int64_t> strides(const at::Tensor& t) { return t.strides().vec(); }

// Global rank at a mesh coordinate.
int64_t rank_at(const DeviceMesh& mesh, const std::vector<int64_t>& coord) {
  at::Tensor t = mesh.mesh();
  for (int64_t c : coord) t = t[c];
  return t.item<int64_t>();
}

void from_local_checks(int n) {
  auto mesh = init_device_mesh("cpu", {n});
  const auto coord = *mesh.get_coordinate();
  // Even shape inference (PyTorch's compute_global_tensor_info).
  {
    auto d = DTensor::from_local(at::randn({8, 4}), mesh, {Shard(1)});
    EXPECT_EQ(d.sizes(), c10::IntArrayRef({8, 4 * n}));
    EXPECT_EQ(strides(d), (std::vector<int64_t>{4 * n, 1}));
    auto r = DTensor::from_local(at::randn({8, 4}), mesh, {Shard(0)});
    EXPECT_EQ(r.sizes(), c10::IntArrayRef({8 * n, 4}));
    EXPECT_EQ(strides(r), (std::vector<int64_t>{4, 1}));
    // A permuted local with stride (8, 1, 32) under Shard(1): (8n, 1, 32n).
    auto permuted = at::randn({3, 4, 8}).permute({1, 2, 0});
    ASSERT_EQ(strides(permuted), (std::vector<int64_t>{8, 1, 32}));
    auto p = DTensor::from_local(permuted, mesh, {Shard(1)});
    EXPECT_EQ(p.sizes(), c10::IntArrayRef({4, 8 * n, 3}));
    EXPECT_EQ(strides(p), (std::vector<int64_t>{8 * n, 1, 32 * n}));
    // Replicate and Partial keep the local shape; negative Shard dims are normalised.
    auto rep = DTensor::from_local(at::randn({3, 5}), mesh, {Replicate{}});
    EXPECT_EQ(rep.sizes(), c10::IntArrayRef({3, 5}));
    auto neg = DTensor::from_local(at::randn({3, 5}), mesh, {Shard(-1)});
    EXPECT_EQ(neg.placements(), Placements{Shard(1)});
    EXPECT_EQ(neg.sizes(), c10::IntArrayRef({3, 5 * n}));
    // Default placements: all Replicate.
    EXPECT_EQ(DTensor::from_local(at::randn({2}), mesh).placements(), Placements{Replicate{}});
  }
  // Values: an even Shard(0) round-trips through full_tensor.
  {
    auto full = integers({4 * n, 3}, 1);
    auto d = DTensor::from_local(full.chunk(n, 0)[coord[0]].clone(), mesh, {Shard(0)});
    EXPECT_TRUE(at::equal(d.full_tensor(), full));
  }
  // Uneven layouts with shape + stride: 13, 3 and 1 rows.
  for (int64_t rows : {13, 3, 1}) {
    auto full = integers({rows, 5}, 2 + rows);
    auto local = piece(full, {Shard(0)}, mesh, coord).clone();
    auto d = DTensor::from_local(local, mesh, {Shard(0)}, {false, std::vector<int64_t>{rows, 5}, std::vector<int64_t>{5, 1}});
    EXPECT_EQ(d.sizes(), c10::IntArrayRef({rows, 5}));
    EXPECT_TRUE(at::equal(d.full_tensor(), full)) << rows << " rows";
  }
  // Partial placements: the value is the sum of the locals.
  {
    auto local = integers({3, 2}, 100 + coord[0]);
    auto d = DTensor::from_local(local, mesh, {Partial{}});
    auto expect = at::zeros({3, 2});
    for (int r = 0; r < n; ++r) expect += integers({3, 2}, 100 + r);
    EXPECT_TRUE(at::equal(d.full_tensor(), expect));
    auto m = DTensor::from_local(local, mesh, {Partial("max")});
    auto expect_max = integers({3, 2}, 100);
    for (int r = 1; r < n; ++r) expect_max = at::maximum(expect_max, integers({3, 2}, 100 + r));
    EXPECT_TRUE(at::equal(m.full_tensor(), expect_max));
  }
  // from_local is differentiable: the gradient reaches the local tensor (Partial counts as
  // Replicate, so it is the upstream gradient unreduced).
  {
    auto local = at::randn({2, 3}).requires_grad_();
    auto d = DTensor::from_local(local, mesh, {Shard(0)});
    auto up = integers({2 * n, 3}, 7);
    (d.full_tensor() * up).sum().backward();
    EXPECT_TRUE(at::equal(local.grad(), up.chunk(n, 0)[coord[0]]));
    auto plocal = at::randn({2, 3}).requires_grad_();
    DTensor::from_local(plocal, mesh, {Partial{}}).full_tensor().sum().backward();
    EXPECT_TRUE(at::equal(plocal.grad(), at::ones({2, 3})));
  }
}

void run_check_checks(const DeviceMesh& mesh) {
  const auto coord = *mesh.get_coordinate();
  const int64_t rank = mesh.get_rank();
  const bool last = rank == mesh.size() - 1;
  // Inconsistent inferred shapes, dtypes or requires_grad: every rank raises (none hangs).
  if (mesh.size() > 1) {
    EXPECT_ERROR(DTensor::from_local(at::randn({last ? 3 : 4, 5}), mesh,
                                     Placements(mesh.ndim(), Shard(0)), {true}),
                 c10::ValueError, "Inconsistent tensor metadata (including shape and stride) across ranks.");
    EXPECT_ERROR(DTensor::from_local(at::randn({2, 2}, last ? at::kDouble : at::kFloat), mesh, {},
                                     {true, std::vector<int64_t>{2, 2}, std::vector<int64_t>{2, 1}}),
                 c10::ValueError, "Inconsistent tensor metadata");
    EXPECT_ERROR(DTensor::from_local(at::randn({2, 2}).requires_grad_(last), mesh, {}, {true}),
                 c10::ValueError, "Inconsistent tensor metadata");
  }
  // Consistent metadata: Replicate mesh dims take the shard of their coordinate 0.
  Placements placements(mesh.ndim(), Replicate{});
  placements.back() = Shard(0);
  auto base = integers({4, 3}, 5);
  auto mine = piece(base, placements, mesh, coord) + 100 * rank;
  auto d = DTensor::from_local(mine.clone(), mesh, placements,
                               {true, std::vector<int64_t>{4, 3}, std::vector<int64_t>{3, 1}});
  auto source = coord;
  for (size_t m = 0; m + 1 < coord.size(); ++m) source[m] = 0;
  EXPECT_TRUE(at::equal(d.local_tensor(), piece(base, placements, mesh, coord) + 100 * rank_at(mesh, source)));
  // Partial dims are not broadcast.
  auto summand = integers({2, 3}, 50 + rank);
  auto p = DTensor::from_local(summand, mesh, Placements(mesh.ndim(), Partial{}), {true});
  EXPECT_TRUE(at::equal(p.local_tensor(), summand));
  // The gradient flows through the synchronised shard to the caller's local tensor.
  auto local = at::ones({2, 2}).requires_grad_();
  auto r = DTensor::from_local(local, mesh, {}, {true});
  (DTensor(r * 3).to_local()).sum().backward();
  ASSERT_TRUE(local.grad().defined());
  EXPECT_TRUE(at::equal(local.grad(), at::full({2, 2}, 3.0)));
}

void to_local_and_full_tensor_checks(int n) {
  auto mesh = init_device_mesh("cpu", {n});
  const auto coord = *mesh.get_coordinate();
  auto full = integers({5, 4}, 11);
  auto x = distribute_tensor(full, mesh, {Shard(0)}).set_requires_grad(true);
  DTensor d(x);
  {
    torch::NoGradGuard no_grad;
    EXPECT_TRUE(d.to_local().is_same(d.local_tensor()));  // identity under no_grad
    EXPECT_FALSE(d.to_local().requires_grad());
  }
  auto local = d.to_local();
  EXPECT_TRUE(local.requires_grad());
  EXPECT_FALSE(local.is_same(d.local_tensor()));
  EXPECT_EQ(local.data_ptr(), d.local_tensor().data_ptr());  // a view, no copy
  EXPECT_TRUE(at::equal(local, piece(full, {Shard(0)}, mesh, coord)));
  // Backward of to_local wraps the local gradient with the forward placements: no collective.
  {
    CommDebugMode mode;
    (local * 2).sum().backward();
    EXPECT_EQ(mode.get_total_counts(), 0);
    EXPECT_EQ(DTensor(x.grad()).placements(), Placements{Shard(0)});
    EXPECT_TRUE(at::equal(DTensor(x.grad()).local_tensor(), at::full_like(local, 2.0)));
  }
  // full_tensor: 1 all_gather forward; its gradient is Replicate (local chunk, no collective) or,
  // with grad_placements=[Partial], reduce_scattered.
  for (bool partial : {false, true}) {
    auto y = distribute_tensor(full, mesh, {Shard(0)}).set_requires_grad(true);
    CommDebugMode fwd;
    auto f = partial ? DTensor(y).full_tensor(Placements{Partial{}}) : DTensor(y).full_tensor();
    EXPECT_TRUE(at::equal(f, full));
    EXPECT_EQ(fwd.get_comm_counts(), (n == 1 ? Counts{} : Counts{{"all_gather", 1}}));
    CommDebugMode bwd;
    f.backward(at::ones_like(f));
    const Counts expect_bwd = n == 1 || !partial ? Counts{} : Counts{{"reduce_scatter", 1}};
    EXPECT_EQ(bwd.get_comm_counts(), expect_bwd);
    DTensor g(y.grad());
    EXPECT_EQ(g.placements(), Placements{Shard(0)});
    const double scale = partial ? n : 1;
    EXPECT_TRUE(at::equal(g.local_tensor(), at::full_like(g.local_tensor(), scale)));
  }
}

void distribute_tensor_checks(const DeviceMesh& mesh) {
  const auto coord = *mesh.get_coordinate();
  const int64_t rank = mesh.get_rank();
  const int64_t nd = mesh.ndim();
  std::vector<Placements> layouts;
  if (nd == 1) {
    layouts = {{Shard(0)}, {Shard(1)}, {Replicate{}}};
  } else {
    layouts = {{Shard(0), Shard(1)}, {Shard(0), Shard(0)}, {Shard(1), Replicate{}}, {Replicate{}, Shard(0)},
               {Replicate{}, Replicate{}}};
  }
  for (int64_t rows : {13, 3, 1, 8}) {
    // Every rank holds a different tensor: the data must come from the source rank.
    auto mine = integers({rows, 6}, 1000 * rows + rank);
    for (const auto& p : layouts) {
      SCOPED_TRACE(c10::str(rows, " rows, ", p));
      int64_t shards = 0, replicas = 0;
      for (const auto& x : p) (x.is_shard() ? shards : replicas) += 1;
      for (int src : {0, 1}) {
        if (src >= mesh.size(0)) continue;
        CommDebugMode mode;
        auto d = distribute_tensor(mine, mesh, p, src);
        Counts expect;
        if (mesh.size() > 1) {
          if (shards) expect["scatter"] = shards;
          if (replicas) expect["broadcast"] = replicas;
        }
        EXPECT_EQ(mode.get_comm_counts(), expect);
        const auto origin = integers({rows, 6}, 1000 * rows + rank_at(mesh, std::vector<int64_t>(nd, src)));
        EXPECT_TRUE(at::equal(d.local_tensor(), piece(origin, p, mesh, coord))) << "src_data_rank " << src;
        EXPECT_TRUE(d.local_tensor().is_contiguous());
        EXPECT_EQ(d.sizes(), c10::IntArrayRef({rows, 6}));
        EXPECT_TRUE(at::equal(d.full_tensor(), origin));
      }
      // src_data_rank = nullopt: no collective, each rank slices its own tensor, no aliasing.
      CommDebugMode mode;
      auto d = distribute_tensor(mine, mesh, p, std::nullopt);
      EXPECT_EQ(mode.get_total_counts(), 0);
      EXPECT_TRUE(at::equal(d.local_tensor(), piece(mine, p, mesh, coord)));
      EXPECT_NE(d.local_tensor().data_ptr(), mine.data_ptr());
    }
  }
  // Negative dims are normalised; requires_grad is carried and the result is a leaf.
  auto t = at::randn({4, 6}).requires_grad_();
  auto d = distribute_tensor(t, mesh, Placements(nd, Shard(-1)));
  EXPECT_EQ(d.placements(), Placements(nd, Shard(1)));
  EXPECT_TRUE(d.requires_grad());
  EXPECT_TRUE(d.is_leaf());
  // The global stride of a non-contiguous input is kept; the shard is contiguous.
  auto transposed = integers({6, 4}, 3).t();
  auto dt = distribute_tensor(transposed, mesh, Placements(nd, Shard(0)));
  EXPECT_EQ(strides(dt), strides(transposed));
  EXPECT_TRUE(at::equal(dt.full_tensor(), transposed));
  // A DTensor input: the same mesh and placements return it unchanged.
  auto again = distribute_tensor(d, mesh, Placements(nd, Shard(1)));
  EXPECT_TRUE(again.is_same(d));
}

void error_checks(const DeviceMesh& mesh) {
  const int64_t nd = mesh.ndim();
  auto t = at::randn({4, 6});
  auto d = distribute_tensor(t, mesh, Placements(nd, Shard(0)));
  // from_local
  EXPECT_ERROR(DTensor::from_local(d, mesh), c10::Error,
               "the local_tensor argument only accepts torch.Tensor but got DTensor value.");
  EXPECT_ERROR(DTensor::from_local(t, mesh, {}, {false, std::vector<int64_t>{4, 6}, std::nullopt}), c10::Error,
               "Please pass both shape and stride at the same time.");
  EXPECT_ERROR(DTensor::from_local(t, mesh, {}, {false, std::nullopt, std::vector<int64_t>{6, 1}}), c10::Error,
               "Found shape:None, stride:[6, 1]");
  EXPECT_ERROR(DTensor::from_local(t, mesh, {}, {false, std::vector<int64_t>{4, 6, 1}, std::vector<int64_t>{6, 1, 1}}),
               c10::ValueError, "one entry per dim of the local tensor");
  EXPECT_ERROR(DTensor::from_local(t, mesh, Placements(nd, Shard(2))), c10::IndexError,
               "Sharding dim 2 greater than tensor ndim 2");
  EXPECT_ERROR(DTensor::from_local(t, mesh, Placements(nd, Shard(-3))), c10::IndexError, "Sharding dim -3");
  // redistribute
  EXPECT_ERROR(d.redistribute(Placements{}), c10::Error, "placements is needed for redistribute!");
  EXPECT_ERROR(d.redistribute(Placements(nd, Partial{})), c10::Error,
               "Can not redistribute from S(0) to P(sum), redistributing to Partial is for internal use only!");
  auto r = distribute_tensor(t, mesh);
  EXPECT_ERROR(r.redistribute(Placements(nd, Partial{})), c10::Error,
               "Can not redistribute from R to P(sum), redistributing to Partial is for internal use only!");
  auto p = DTensor::from_local(t, mesh, Placements(nd, Partial{}));
  EXPECT_ERROR(p.redistribute(Placements(nd, Partial("max"))), c10::Error,
               "Can not redistribute from P(sum) to P(max)");
  EXPECT_TRUE(p.redistribute(Placements(nd, Partial{})).placements() == p.placements());  // same Partial: allowed
  // A mesh that differs from `mesh` (built collectively on every rank).
  DeviceMesh flat = nd > 1 ? init_device_mesh("cpu", {mesh.size()})
                    : mesh.size() > 1 ? DeviceMesh("cpu", at::arange(mesh.size()).flip(0))
                                      : init_device_mesh("cpu", {1, 1});
  EXPECT_ERROR(d.redistribute(flat, Placements(flat.ndim(), Replicate{})), c10::NotImplementedError,
               "Cross device mesh comm not supported yet!");
  EXPECT_ERROR(d.redistribute(Placements(nd, Shard(2))), c10::IndexError, "Sharding dim 2 greater than tensor ndim 2");
  // distribute_tensor
  auto leaf = at::randn({4, 6}).requires_grad_();
  EXPECT_ERROR(distribute_tensor(leaf * 2, mesh), c10::Error,
               "`distribute_tensor` should be used to distribute leaf tensors! but found non-leaf tensor!");
  EXPECT_ERROR(distribute_tensor(t, mesh, Placements(nd + 1, Replicate{})), c10::ValueError,
               c10::str("`placements` must have the same length as `device_mesh.ndim`! Found placements length: ",
                        nd + 1, ", and device_mesh.ndim: ", nd, "."));
  EXPECT_ERROR(distribute_tensor(d, flat, Placements(flat.ndim(), Shard(0))), c10::ValueError,
               "Cannot distribute a DTensor with device mesh");
  EXPECT_ERROR(distribute_tensor(d, mesh, Placements(nd, Replicate{})), c10::ValueError,
               "to a different placements");
  EXPECT_ERROR(distribute_tensor(d, mesh, Placements(nd, Replicate{})), c10::ValueError,
               "do you want to call `redistribute` instead?");
  EXPECT_ERROR(distribute_tensor(t, mesh, Placements(nd, Partial{})), c10::Error,
               "Trying to distribute tensor with unsupported placements P(sum) on device mesh dimension 0!");
  EXPECT_ERROR(distribute_tensor(t, mesh, Placements(nd, Shard(2))), c10::IndexError,
               "Sharding dim 2 greater than tensor ndim 2");
  EXPECT_ERROR(distribute_tensor(t, mesh, Placements(nd, Shard(0)), static_cast<int>(mesh.size(0))), c10::ValueError,
               "is not a rank of mesh dim 0");
  // DTensor handle
  EXPECT_ERROR(DTensor{t}, c10::TypeError, "dtensor::DTensor needs a DTensor, got a plain tensor");
  EXPECT_ERROR(DTensor{at::Tensor()}, c10::TypeError, "(undefined)");
}

}  // namespace

TEST(DTensorApi, FromLocal) {
  for (int n : {1, 2, 3, 4}) run_world(n, [n](int) { from_local_checks(n); });
  run_world(4, [](int) {
    // 2x2: nested and crossed shards.
    auto mesh = init_device_mesh("cpu", {2, 2});
    auto a = DTensor::from_local(at::randn({3, 2}), mesh, {Shard(0), Shard(1)});
    EXPECT_EQ(a.sizes(), c10::IntArrayRef({6, 4}));
    EXPECT_EQ(strides(a), (std::vector<int64_t>{4, 1}));
    auto b = DTensor::from_local(at::randn({3, 2}), mesh, {Shard(0), Shard(0)});
    EXPECT_EQ(b.sizes(), c10::IntArrayRef({12, 2}));
    auto c = DTensor::from_local(at::randn({3, 2}), mesh, {Replicate{}, Shard(1)});
    EXPECT_EQ(c.sizes(), c10::IntArrayRef({3, 4}));
  });
}

TEST(DTensorApi, FromLocalRunCheck) {
  for (int n : {1, 2, 3, 4}) run_world(n, [n](int) { run_check_checks(init_device_mesh("cpu", {n})); });
  run_world(4, [](int) { run_check_checks(init_device_mesh("cpu", {2, 2})); });
}

TEST(DTensorApi, ToLocalAndFullTensor) {
  for (int n : {1, 2, 3, 4}) run_world(n, [n](int) { to_local_and_full_tensor_checks(n); });
}

TEST(DTensorApi, DistributeTensor) {
  for (int n : {1, 2, 3, 4}) run_world(n, [n](int) { distribute_tensor_checks(init_device_mesh("cpu", {n})); });
  run_world(4, [](int) { distribute_tensor_checks(init_device_mesh("cpu", {2, 2})); });
}

TEST(DTensorApi, Errors) {
  for (int n : {1, 2, 3}) run_world(n, [n](int) { error_checks(init_device_mesh("cpu", {n})); });
  run_world(4, [](int) { error_checks(init_device_mesh("cpu", {2, 2})); });
}

// World of 4, mesh of ranks [0, 1]: ranks 2 and 3 hold empty local tensors, and ops,
// redistributions and backward are local no-ops there (no collective, no hang).
TEST(DTensorApi, RanksOutsideTheMesh) {
  run_world(4, [](int rank) {
    DeviceMesh mesh("cpu", at::arange(2));
    const bool inside = rank < 2;
    ASSERT_EQ(mesh.contains_this_rank(), inside);
    auto a_full = integers({5, 4}, 1), b_full = integers({4, 3}, 2);
    auto a = distribute_tensor(a_full, mesh, {Shard(0)}).set_requires_grad(true);
    auto b = distribute_tensor(b_full, mesh, {Replicate{}}).set_requires_grad(true);
    auto l = DTensor::from_local(at::ones({2, 2}), mesh, {Shard(0)});
    EXPECT_EQ(l.sizes(), c10::IntArrayRef({4, 2}));
    EXPECT_EQ(DTensor(a).local_tensor().numel() == 0, !inside);
    EXPECT_EQ(l.local_tensor().numel() == 0, !inside);
    CommDebugMode mode;
    auto c = DTensor(at::mm(a, b));
    auto s = DTensor(c + c);
    s.add_(1.0);
    auto r = s.redistribute({Replicate{}});
    auto f = r.full_tensor();
    auto loss = DTensor(c.sum());
    loss.backward();
    if (inside) {
      EXPECT_GT(mode.get_total_counts(), 0);
      auto expect = at::mm(a_full, b_full) * 2 + 1;
      EXPECT_TRUE(at::allclose(f, expect));
      EXPECT_TRUE(at::allclose(DTensor(b.grad()).full_tensor(), at::mm(a_full.t(), at::ones({5, 3}))));
    } else {
      EXPECT_EQ(mode.get_total_counts(), 0);
      EXPECT_EQ(f.numel(), 0);
      EXPECT_EQ(r.sizes(), c10::IntArrayRef({5, 3}));
      EXPECT_EQ(r.placements(), Placements{Replicate{}});
    }
    // from_local's backward on an outside rank gives its local tensor a zero gradient.
    auto local = at::ones({2, 2}).requires_grad_();
    DTensor::from_local(local, mesh, {Shard(0)}).to_local().sum().backward();
    EXPECT_TRUE(at::equal(local.grad(), inside ? at::ones({2, 2}) : at::zeros({2, 2})));
  });
}

// DTensor ops and redistribution under NoGradGuard and InferenceMode.
TEST(DTensorApi, GradModeGuards) {
  run_world(2, [](int) {
    auto mesh = init_device_mesh("cpu", {2});
    auto a_full = integers({4, 4}, 1), b_full = integers({4, 4}, 2);
    auto a = distribute_tensor(a_full, mesh, {Shard(0)}).set_requires_grad(true);
    auto b = distribute_tensor(b_full, mesh, {Replicate{}}).set_requires_grad(true);
    {
      torch::NoGradGuard no_grad;
      auto c = DTensor(at::mm(a, b) + a);
      EXPECT_FALSE(c.requires_grad());
      auto r = c.redistribute({Replicate{}});
      EXPECT_FALSE(r.requires_grad());
      EXPECT_TRUE(at::equal(r.to_local(), at::mm(a_full, b_full) + a_full));
    }
    {
      c10::InferenceMode inference;
      auto x = distribute_tensor(a_full, mesh, {Shard(0)});
      auto c = DTensor(at::mm(x, b) + a);
      c.add_(1.0);
      const auto expect = at::mm(a_full, b_full) + a_full + 1;
      auto r = c.redistribute({Replicate{}});
      EXPECT_TRUE(at::equal(r.to_local(), expect));
      EXPECT_TRUE(at::equal(DTensor(x).full_tensor(), a_full));
      auto s = DTensor(r.sum(0));
      EXPECT_TRUE(at::equal(s.full_tensor(), expect.sum(0)));
      // Every collective, synchronous or not, returns inference tensors here, like local ops:
      // all_gather (Gloo fills its buffer on a worker thread), all_to_all, all_reduce,
      // reduce_scatter.
      auto p = DTensor::from_local(r.to_local(), mesh, {Partial()});
      std::vector<std::pair<DTensor, Placements>> moves{
          {c, {Replicate{}}}, {c, {Shard(1)}}, {p, {Replicate{}}}, {p, {Shard(0)}}};
      for (const auto& [from, to] : moves) {
        for (bool async_op : {false, true}) {
          SCOPED_TRACE(to_string(from.placements()) + " -> " + to_string(to) + (async_op ? " async" : ""));
          RedistributeOptions options;
          options.async_op = async_op;
          auto moved = from.redistribute(to, options);
          EXPECT_TRUE(moved.to_local().is_inference());
          auto full = moved.full_tensor();
          EXPECT_TRUE(full.is_inference());
          EXPECT_TRUE(at::equal(full, from.placements()[0].is_partial() ? expect * 2 : expect));
        }
      }
    }
  });
}

// A view of a normal DTensor under InferenceMode is a normal tensor that autograd records as a
// view of its base, as for plain tensors (nn::Linear's weight.t() in an inference forward pass);
// non-view results are inference tensors.
TEST(DTensorApi, InferenceModeViewsOfNormalTensors) {
  run_world(2, [](int) {
    auto mesh = init_device_mesh("cpu", {2});
    auto w_full = integers({4, 6}, 3);
    auto w = distribute_tensor(w_full, mesh, {Shard(0)}).set_requires_grad(true);
    c10::InferenceMode inference;
    auto t = w.t();
    EXPECT_FALSE(t.is_inference());
    EXPECT_TRUE(t.is_view());
    EXPECT_TRUE(at::equal(DTensor(t).full_tensor(), w_full.t()));
    auto y = t * 2;
    EXPECT_TRUE(y.is_inference());
    EXPECT_TRUE(at::equal(DTensor(y).full_tensor(), w_full.t() * 2));
    auto x = distribute_tensor(w_full, mesh, {Shard(0)});
    EXPECT_TRUE(x.t().is_inference());
  });
}

TEST(DTensorApi, PrintingAndPredicates) {
  run_world(2, [](int) {
    auto mesh = init_device_mesh("cpu", {2});
    auto d = distribute_tensor(at::randn({4, 8}), mesh, {Shard(0)});
    std::ostringstream os;
    os << d;
    std::ostringstream mesh_str;
    mesh_str << mesh;
    EXPECT_EQ(os.str(), "DTensor(local=[2, 8], global=[4, 8], placements=[S(0)], mesh=" + mesh_str.str() +
                            ", dtype=Float)");
    EXPECT_TRUE(is_dtensor(d));
    EXPECT_FALSE(is_dtensor(at::randn({2})));
    EXPECT_FALSE(is_dtensor(at::Tensor()));
    EXPECT_TRUE(is_dtensor(d * 2));
    EXPECT_EQ(Placement(Shard(1)).str(), "S(1)");
    EXPECT_EQ(Placement(Replicate{}).repr(), "Replicate()");
    EXPECT_EQ(Placement(Partial("avg")).str(), "P(avg)");
    EXPECT_EQ(Placement(Partial{}).repr(), "Partial(sum)");
    EXPECT_EQ(to_string(Placements{Shard(0), Replicate{}}), "[S(0), R]");
    EXPECT_ERROR(Partial("mean"), c10::Error, "unknown reduce op 'mean'");
    EXPECT_ERROR(Placement(Replicate{}).shard_dim(), c10::Error, "which is not a Shard");
  });
}
