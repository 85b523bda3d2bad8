// Redistribution (SEMANTICS 2.4-2.5): every transition forward and backward on 1-D meshes of 1-4
// ranks, on a 2x2 mesh (all placement pairs over {R, S0, S1, P}) and on meshes with a dim of size
// 1, with uneven shapes. Every check compares this rank's local shard with the single-process
// reference (torch.chunk of the global value, outer mesh dims first), the gradient with the
// upstream gradient, and the CommDebugMode counts with SEMANTICS 2.5's tables.
//
// Inputs are integer-valued floats so that sums are exact whatever the reduction order.
#include <dtensor/dtensor.h>

#include "../../src/redistribute/redistribute.h"  // the internal Replicate -> Partial step
#include "harness/expect.h"
#include "harness/layout.h"
#include "harness/multiprocess.h"

using namespace dtensor;
using dtensor::debug::CommDebugMode;
using dtensor::testing::piece;
using dtensor::testing::run_world;
using Counts = std::map<std::string, int64_t>;

namespace {

std::string str(const Placements& p) { return to_string(p); }

at::Tensor integers(at::IntArrayRef shape, uint64_t seed, at::ScalarType dtype = at::kFloat) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randint(-4, 5, shape, gen, at::TensorOptions().dtype(at::kLong)).to(dtype);
}


Placements without_partial(Placements p) {
  for (auto& x : p)
    if (x.is_partial()) x = Replicate{};
  return p;
}

at::Tensor reduce(const std::vector<at::Tensor>& parts, comm::ReduceOp op) {
  auto stacked = at::stack(parts);
  switch (op) {
    case comm::ReduceOp::Sum: return stacked.sum(0);
    case comm::ReduceOp::Avg: return stacked.mean(0);
    case comm::ReduceOp::Max: return std::get<0>(stacked.max(0));
    case comm::ReduceOp::Min: return std::get<0>(stacked.min(0));
    case comm::ReduceOp::Product: return stacked.prod(0);
  }
  return {};
}

// A global value held as one summand per coordinate of the source's Partial mesh dims (one
// summand when there are none); the value is their reduction.
struct Source {
  std::vector<int64_t> partial_dims;                         // mesh dims, ascending
  std::vector<std::pair<std::vector<int64_t>, at::Tensor>> summands;  // (coordinates on them, summand)
  comm::ReduceOp op = comm::ReduceOp::Sum;
  at::Tensor value;

  // What the rank at `coord` holds under `p`, whose Partial mesh dims are a subset of the
  // source's: the reduction of the summands that agree with `coord` on the dims still Partial.
  at::Tensor local(const Placements& p, const DeviceMesh& mesh, const std::vector<int64_t>& coord) const {
    std::vector<at::Tensor> parts;
    for (const auto& [at_coord, summand] : summands) {
      bool mine = true;
      for (size_t k = 0; k < partial_dims.size(); ++k)
        if (p[partial_dims[k]].is_partial()) mine = mine && at_coord[k] == coord[partial_dims[k]];
      if (mine) parts.push_back(summand);
    }
    return piece(reduce(parts, op), p, mesh, coord);
  }
};

Source make_source(at::IntArrayRef shape, const Placements& p, const DeviceMesh& mesh,
                   uint64_t seed, at::ScalarType dtype = at::kFloat) {
  Source s;
  std::vector<int64_t> sizes;
  for (size_t m = 0; m < p.size(); ++m) {
    if (!p[m].is_partial()) continue;
    s.partial_dims.push_back(static_cast<int64_t>(m));
    sizes.push_back(mesh.size(static_cast<int64_t>(m)));
    s.op = p[m].reduce_op();
  }
  std::vector<int64_t> at_coord(sizes.size(), 0);
  for (uint64_t k = 0;; ++k) {
    auto t = integers(shape, seed * 101 + k, dtype);
    if (s.op == comm::ReduceOp::Product) {  // factors in {-1, 1, 2}: the product is exact and small
      auto index = at::randint(0, 3, shape, at::make_generator<at::CPUGeneratorImpl>(seed * 101 + k));
      t = at::tensor({-1.0, 1.0, 2.0}, at::TensorOptions().dtype(dtype)).index({index});
    }
    s.summands.emplace_back(at_coord, t);
    // Next coordinate tuple (last dim fastest); done after the last one.
    int64_t j = static_cast<int64_t>(sizes.size()) - 1;
    while (j >= 0 && ++at_coord[j] == sizes[j]) at_coord[j--] = 0;
    if (j < 0) break;
  }
  std::vector<at::Tensor> all;
  for (const auto& [c, t] : s.summands) all.push_back(t);
  s.value = reduce(all, s.op);
  return s;
}

// A leaf DTensor (requires_grad) holding `s` laid out as `p`; its local shard is made
// non-contiguous when asked, to exercise the collectives' handling of strides.
DTensor make_input(const Source& s, const Placements& p, const DeviceMesh& mesh, bool strided) {
  auto local = s.local(p, mesh, *mesh.get_coordinate()).clone();
  if (strided && local.dim() == 2) local = local.t().contiguous().t();
  FromLocalOptions o;
  o.shape = s.value.sizes().vec();
  o.stride = s.value.strides().vec();
  auto x = DTensor::from_local(local, mesh, p, o);
  if (at::isFloatingType(x.scalar_type())) x.set_requires_grad(true);
  return x;
}

struct Expected {
  Counts forward, backward;
};

// SEMANTICS 2.5, 1-D rules (mesh dim of size > 1).
Expected rule_1d(const Placement& from, const Placement& to) {
  if (from == to) return {};
  if (from.is_shard() && to.is_replicate()) return {{{"all_gather", 1}}, {}};
  if (from.is_replicate() && to.is_shard()) return {{}, {{"all_gather", 1}}};
  if (from.is_partial() && to.is_replicate()) return {{{"all_reduce", 1}}, {}};
  if (from.is_partial() && to.is_shard()) return {{{"reduce_scatter", 1}}, {{"all_gather", 1}}};
  if (from.is_shard() && to.is_shard()) return {{{"all_to_all", 1}}, {{"all_to_all", 1}}};
  ADD_FAILURE() << "no 1-D rule for " << from << " -> " << to;
  return {};
}

struct Check {
  const DeviceMesh& mesh;
  std::vector<int64_t> shape;
  Placements from, to;
  std::optional<Expected> expected;  // nullopt: counts not asserted (values and grads still are)
  bool async = false;
  at::ScalarType dtype = at::kFloat;
  bool strided = false;
};

int64_t g_checks = 0;

// Prints how many transitions rank 0 checked in this world.
void report(int rank, const char* what) {
  if (rank == 0) std::printf("[redistribute] %s: %lld transitions checked\n", what, static_cast<long long>(g_checks));
}

void run_check(const Check& c) {
  SCOPED_TRACE(c10::str("shape [", c10::Join(", ", c.shape), "] ", str(c.from), " -> ", str(c.to),
                        " on mesh ", c.mesh, c.async ? " (async)" : "", " ", c.dtype));
  ++g_checks;
  const auto coord = *c.mesh.get_coordinate();
  const uint64_t seed = static_cast<uint64_t>(g_checks);
  auto src = make_source(c.shape, c.from, c.mesh, seed, c.dtype);
  auto x = make_input(src, c.from, c.mesh, c.strided);
  const bool grads = x.requires_grad();

  CommDebugMode fwd;
  auto y = x.redistribute(c.to, RedistributeOptions{c.async});
  const Counts fwd_counts = fwd.get_comm_counts();

  Placements to_normalized;
  for (const auto& p : c.to) to_normalized.push_back(p.normalized(static_cast<int64_t>(c.shape.size())));
  EXPECT_EQ(y.placements(), to_normalized);
  EXPECT_EQ(y.sizes(), c10::IntArrayRef(c.shape));
  const auto expect_local = src.local(to_normalized, c.mesh, coord);
  const auto& got = y.local_tensor();
  EXPECT_TRUE(got.sizes() == expect_local.sizes() && at::allclose(got, expect_local))
      << "local " << got.sizes() << "\n" << got << "\nexpected " << expect_local.sizes() << "\n"
      << expect_local;
  EXPECT_EQ(got.scalar_type(), c.dtype);

  Counts bwd_counts;
  if (grads) {
    // Upstream gradient G; a Partial output is read back as Replicate (its summands' gradient).
    const auto grad_placements = without_partial(to_normalized);
    auto G = integers(c.shape, seed + 7919);
    auto out = y.to_local(grad_placements);
    auto loss = (out * piece(G, grad_placements, c.mesh, coord)).sum();
    CommDebugMode bwd;
    loss.backward();
    bwd_counts = bwd.get_comm_counts();
    ASSERT_TRUE(is_dtensor(x.grad()));
    DTensor g(x.grad());
    const auto expect_placements = without_partial(c.from);
    EXPECT_EQ(g.placements(), expect_placements);
    const auto expect_grad = piece(G, expect_placements, c.mesh, coord);
    EXPECT_TRUE(g.local_tensor().sizes() == expect_grad.sizes() && at::equal(g.local_tensor(), expect_grad))
        << "grad " << g.local_tensor() << "\nexpected " << expect_grad;
  }
  if (c.expected) {
    EXPECT_EQ(fwd_counts, c.expected->forward) << "forward collectives";
    if (grads) EXPECT_EQ(bwd_counts, c.expected->backward) << "backward collectives";
  }
}

std::vector<Placement> shard_options(int64_t ndim) {
  std::vector<Placement> o;
  for (int64_t d = 0; d < ndim; ++d) o.push_back(Shard(d));
  return o;
}

// Every 1-D transition on `shape`: sources R, S(d), P(sum); targets R, S(d) (also as a negative
// dim), and P(sum) from P(sum).
void all_1d(const DeviceMesh& mesh, const std::vector<int64_t>& shape, bool async) {
  const int64_t ndim = static_cast<int64_t>(shape.size());
  std::vector<Placement> sources{Replicate{}, Partial{}};
  for (auto s : shard_options(ndim)) sources.push_back(s);
  for (const auto& from : sources) {
    std::vector<Placement> targets{Replicate{}};
    for (auto s : shard_options(ndim)) targets.push_back(s);
    targets.push_back(Shard(-1));
    if (from.is_partial()) targets.push_back(from);
    for (const auto& to : targets) {
      const Placement to_n = to.normalized(ndim);
      std::optional<Expected> e = mesh.size() == 1 ? Expected{} : rule_1d(from, to_n);
      run_check({mesh, shape, {from}, {to}, e, async, at::kFloat, /*strided=*/g_checks % 2 == 0});
    }
  }
}

// 2x2 mesh: PyTorch's planning cases (test_redistribute_shard_dim_change and nested sharding),
// with both directions' counts worked out from the greedy planner of SEMANTICS 2.5.
struct PlanCase {
  Placements from, to;
  Expected expected;
  int64_t ndim = 2;
};

std::vector<PlanCase> plan_cases_2x2() {
  const Placement R = Replicate{}, P = Partial{}, S0 = Shard(0), S1 = Shard(1), S2 = Shard(2);
  return {
      // S1 -> S0 on mesh dim 1; back: S0 -> S1.
      {{S0, S1}, {S0, S0}, {{{"all_to_all", 1}}, {{"all_to_all", 1}}}},
      // 1: S1 -> R, 0: S0 -> S1, 1: R -> S0 (and the mirror image backward).
      {{S0, S1}, {S1, S0}, {{{"all_gather", 1}, {"all_to_all", 1}}, {{"all_gather", 1}, {"all_to_all", 1}}}},
      // 1: S0 -> R, 0: S0 -> S1, 1: R -> S1.
      {{S0, S0}, {S1, S1}, {{{"all_gather", 1}, {"all_to_all", 1}}, {{"all_gather", 1}, {"all_to_all", 1}}}},
      {{S1, S0}, {S0, S1}, {{{"all_gather", 1}, {"all_to_all", 1}}, {{"all_gather", 1}, {"all_to_all", 1}}}},
      // Nested sharding is undone inner first.
      {{S0, S0}, {R, R}, {{{"all_gather", 2}}, {}}},
      {{S0, S0}, {S0, R}, {{{"all_gather", 1}}, {}}},
      // 1: S0 -> R, 0: S0 -> R, 1: R -> S0; back: 1: S0 -> R (misaligned), 0 and 1: R -> S0.
      {{S0, S0}, {R, S0}, {{{"all_gather", 2}}, {{"all_gather", 1}}}},
      {{R, S0}, {S0, R}, {{{"all_gather", 1}}, {{"all_gather", 1}}}},
      {{S0, S1}, {R, R}, {{{"all_gather", 2}}, {}}},
      {{R, R}, {S0, S0}, {{}, {{"all_gather", 2}}}},
      {{P, P}, {R, R}, {{{"all_reduce", 2}}, {}}},
      {{P, R}, {S0, S1}, {{{"reduce_scatter", 1}}, {{"all_gather", 2}}}},
      // 1: S0 -> R (misaligned), 0: P -> S0, 1: R -> S0; back [S0,S0] -> [R,S0]: 2 all_gathers.
      {{P, S0}, {S0, S0}, {{{"all_gather", 1}, {"reduce_scatter", 1}}, {{"all_gather", 2}}}},
      // 1: P -> S0 (aligned); back [S0,S0] -> [S0,R]: 1: S0 -> R.
      {{S0, P}, {S0, S0}, {{{"reduce_scatter", 1}}, {{"all_gather", 1}}}},
      {{P, S1}, {P, R}, {{{"all_gather", 1}}, {}}},
      // 3-D tensors (PyTorch's extra cases).
      {{S0, S2}, {S1, S0}, {{{"all_gather", 1}, {"all_to_all", 1}}, {{"all_to_all", 2}}}, 3},
      {{S1, S1}, {S1, S2}, {{{"all_to_all", 1}}, {{"all_to_all", 1}}}, 3},
  };
}

std::optional<Expected> find_plan_case(const Placements& from, const Placements& to, int64_t ndim) {
  for (const auto& c : plan_cases_2x2())
    if (c.from == from && c.to == to && c.ndim == ndim) return c.expected;
  return std::nullopt;
}

}  // namespace

// 1-D meshes of worlds 1-4: every transition with even and uneven sizes (13, 3 and 1 rows: on 4
// ranks, short and empty trailing shards), synchronously and with async_op; other dtypes and
// reduce ops of Partial.
TEST(Redistribute, OneDimMesh) {
  for (int n : {1, 2, 3, 4}) {
    run_world(n, [n](int rank) {
      auto mesh = init_device_mesh("cpu", {n});
      for (std::vector<int64_t> shape : {std::vector<int64_t>{13, 5}, {3, 5}, {1, 3}, {2L * n, 6}, {5, 2, 7}})
        all_1d(mesh, shape, /*async=*/false);
      for (std::vector<int64_t> shape : {std::vector<int64_t>{13, 5}, {3, 2, 7}})
        all_1d(mesh, shape, /*async=*/true);
      // Integer and double tensors go through the same collectives.
      for (auto dtype : {at::kLong, at::kDouble}) {
        for (auto [from, to] : std::vector<std::pair<Placement, Placement>>{
                 {Shard(0), Replicate{}}, {Shard(0), Shard(1)}, {Partial{}, Replicate{}},
                 {Partial{}, Shard(1)}, {Replicate{}, Shard(0)}}) {
          std::optional<Expected> e = n == 1 ? Expected{} : rule_1d(from, to);
          run_check({mesh, {7, 6}, {from}, {to}, e, false, dtype});
        }
      }
      // Partial with every reduce op: P -> R all_reduce, P -> S reduce_scatter.
      for (const char* op : {"avg", "max", "min", "product"}) {
        for (Placement to : {Placement(Replicate{}), Placement(Shard(0)), Placement(Shard(1))}) {
          for (std::vector<int64_t> shape : {std::vector<int64_t>{13, 5}, {3, 5}}) {
            std::optional<Expected> e = n == 1 ? Expected{} : rule_1d(Partial(op), to);
            run_check({mesh, shape, {Partial(op)}, {to}, e});
            run_check({mesh, shape, {Partial(op)}, {to}, e, /*async=*/true});
          }
        }
      }
      report(rank, c10::str("1-D mesh of ", n).c_str());
    });
  }
}

// 2x2 mesh: every pair of placements over {R, S0, S1, P(sum)} (targets keep Partial only where
// the source has it) on SEMANTICS 2.4's shapes, with PyTorch's planning counts asserted; then the
// 3-D planning cases and async_op (multi-step plans run synchronously, same values).
TEST(Redistribute, TwoDimMesh) {
  run_world(4, [](int rank) {
    auto mesh = init_device_mesh("cpu", {2, 2});
    const std::vector<Placement> options{Replicate{}, Shard(0), Shard(1), Partial{}};
    int64_t asserted = 0;
    for (std::vector<int64_t> shape : {std::vector<int64_t>{10, 5}, {9, 5}, {3, 5}, {1, 3}}) {
      for (const auto& a : options)
        for (const auto& b : options)
          for (const auto& c : options)
            for (const auto& d : options) {
              const Placements from{a, b}, to{c, d};
              if ((c.is_partial() && c != a) || (d.is_partial() && d != b)) continue;
              auto e = find_plan_case(from, to, 2);
              asserted += e.has_value();
              run_check({mesh, shape, from, to, e, false, at::kFloat, (a == c)});
            }
    }
    EXPECT_EQ(asserted, 4 * 15);  // every 2-D planning case was met on every shape
    for (const auto& pc : plan_cases_2x2()) {
      std::vector<int64_t> shape = pc.ndim == 3 ? std::vector<int64_t>{5, 6, 7} : std::vector<int64_t>{8, 6};
      run_check({mesh, shape, pc.from, pc.to, pc.expected});
      run_check({mesh, shape, pc.from, pc.to, pc.expected, /*async=*/true});
    }
    report(rank, "2x2 mesh");
  });
}

// A mesh dim of size 1 never communicates (PyTorch's test_one_chunk_mesh), whatever happens on it.
TEST(Redistribute, MeshDimOfSizeOne) {
  for (int n : {2, 4}) {
    run_world(n, [n](int) {
      auto mesh = init_device_mesh("cpu", {n, 1});
      for (Placement from : {Placement(Shard(1)), Placement(Replicate{}), Placement(Partial{})})
        for (Placement to : {Placement(Shard(0)), Placement(Shard(1)), Placement(Replicate{})})
          for (std::vector<int64_t> shape : {std::vector<int64_t>{16, 8}, {5, 3}})
            run_check({mesh, shape, {Shard(0), from}, {Shard(0), to}, Expected{}});
      auto row = init_device_mesh("cpu", {1, n});
      for (Placement from : {Placement(Shard(1)), Placement(Replicate{}), Placement(Partial{})})
        run_check({row, {6, 4}, {from, Shard(0)}, {Replicate{}, Shard(0)}, Expected{}});
    });
  }
}

// to_local(grad_placements=[Partial]) after Replicate: the gradient is reduced (1 all_reduce in
// backward, none forward) and every rank receives the sum of the partial gradients.
TEST(Redistribute, PartialGradHint) {
  for (int n : {1, 2, 3}) {
    run_world(n, [n](int) {
      auto mesh = init_device_mesh("cpu", {n});
      auto full = at::randn({12, 3});
      auto x = distribute_tensor(full, mesh, {Replicate{}}).set_requires_grad(true);
      CommDebugMode mode;
      auto out = DTensor(x).redistribute({Replicate{}}).to_local(Placements{Partial{}});
      EXPECT_EQ(mode.get_total_counts(), 0);
      out.backward(at::ones_like(out));
      EXPECT_EQ(mode.get_comm_counts(), (n == 1 ? Counts{} : Counts{{"all_reduce", 1}}));
      DTensor g(x.grad());
      EXPECT_EQ(g.placements(), Placements{Replicate{}});
      EXPECT_TRUE(at::equal(g.local_tensor(), at::full({12, 3}, static_cast<double>(n))));
    });
  }
}

// The internal Replicate -> Partial step is exact: coordinate 0 keeps the value, the others hold
// the identity of the reduction (sum: 0, product: 1; avg/max/min keep the value), so reducing
// gives back the bit-identical value (dividing by n, as PyTorch does, would round).
TEST(Redistribute, ReplicateToPartialIsExact) {
  for (int n : {1, 3, 4}) {
    run_world(n, [n](int) {
      std::vector<DeviceMesh> meshes{init_device_mesh("cpu", {n})};
      if (n == 4) meshes.push_back(init_device_mesh("cpu", {2, 2}));
      for (const auto& mesh : meshes) {
        const auto coord = *mesh.get_coordinate();
        bool origin = true;
        for (int64_t c : coord) origin = origin && c == 0;
        auto value = at::randn({5, 3}, at::make_generator<at::CPUGeneratorImpl>(5));
        for (const char* op : {"sum", "product", "avg", "max", "min"}) {
          SCOPED_TRACE(c10::str(op, " on ", mesh));
          auto spec = DTensorSpec::make(mesh, Placements(mesh.ndim(), Replicate{}),
                                        TensorMeta{{5, 3}, {3, 1}, at::kFloat});
          auto partial = spec->with_placements(Placements(mesh.ndim(), Partial(op)));
          CommDebugMode mode;
          auto local = dtensor::detail::redistribute_local(value, *spec, *partial);
          EXPECT_EQ(mode.get_total_counts(), 0);
          const std::string o = op;
          at::Tensor expect = value;
          if (!origin && o == "sum") expect = at::zeros_like(value);
          if (!origin && o == "product") expect = at::ones_like(value);
          EXPECT_TRUE(at::equal(local, expect));
          // Reducing the partial values restores the value exactly.
          auto back = dtensor::detail::redistribute_local(local, *partial, *spec);
          if (o == "avg") {
            EXPECT_TRUE(at::allclose(back, value));
          } else {
            EXPECT_TRUE(at::equal(back, value));
          }
        }
      }
    });
  }
}

// Transitions that do not exist are refused by the planner with PyTorch's messages.
TEST(Redistribute, PlannerErrors) {
  run_world(2, [](int) {
    auto mesh = init_device_mesh("cpu", {2});
    auto spec = DTensorSpec::make(mesh, {Shard(0)}, TensorMeta{{4, 2}, {2, 1}, at::kFloat});
    EXPECT_THROW_MSG(dtensor::detail::plan_redistribute(*spec, {Partial{}}), c10::Error,
                     "redistribute from S(0) to P(sum) not supported yet");
    auto partial = spec->with_placements({Partial("max")});
    EXPECT_THROW_MSG(dtensor::detail::plan_redistribute(*partial, {Partial("sum")}), c10::Error,
                     "Can not redistribute from P(max) to P(sum), redistributing to Partial is "
                     "for internal use only!");
    // Costs: equal layouts are free, impossible ones infinite, a collective costs more than a
    // local step.
    EXPECT_EQ(dtensor::detail::redistribute_cost(*spec, {Shard(0)}), 0.0);
    EXPECT_TRUE(std::isinf(dtensor::detail::redistribute_cost(*spec, {Partial{}})));
    auto replicated = spec->with_placements({Replicate{}});
    EXPECT_LT(dtensor::detail::redistribute_cost(*replicated, {Shard(0)}),
              dtensor::detail::redistribute_cost(*spec, {Replicate{}}));
  });
}
