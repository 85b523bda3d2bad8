// Slicing, indexing, joining/splitting and rearranging ops on DTensors: values and gradients
// against plain tensors for every input placement (op table) on 1-D worlds of 2, 3 (uneven) and
// 4 ranks and a 2x2 mesh; in-place forms raise exactly when self would have to change layout;
// the communication the rules promise (local slices, Partial selects and lookups, local
// triangles); data-dependent ops raise with a hint.
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
using Raises = std::function<bool(const std::vector<Placements>&, const DeviceMesh&)>;

namespace {

OpCase op(std::string name, Tensors inputs, std::function<at::Tensor(const Tensors&)> f) {
  OpCase c;
  c.name = std::move(name);
  c.inputs = std::move(inputs);
  c.fn = [f](const Tensors& t) { return Tensors{f(t)}; };
  return c;
}

OpCase ops(std::string name, Tensors inputs, std::function<Tensors(const Tensors&)> f) {
  OpCase c;
  c.name = std::move(name);
  c.inputs = std::move(inputs);
  c.fn = std::move(f);
  return c;
}

OpCase with_raises(OpCase c, Raises r) {
  c.raises = std::move(r);
  return c;
}

OpCase no_grad(OpCase c) {
  c.check_grads = false;
  return c;
}

at::Tensor idx(std::vector<int64_t> v) { return at::tensor(v, at::kLong); }

// An in-place op on input `self` must keep its layout: it raises when, on some mesh dim, self's
// placement is one `kept` refuses (given self's and the other inputs' placements on that dim).
Raises inplace_raises(std::function<bool(const std::vector<Placement>&)> refused) {
  return [refused](const std::vector<Placements>& p, const DeviceMesh& mesh) {
    for (int64_t m = 0; m < mesh.ndim(); ++m) {
      std::vector<Placement> row;
      for (const auto& x : p) row.push_back(x[m]);
      if (refused(row)) return true;
    }
    return false;
  };
}

std::vector<OpCase> slicing_cases() {
  at::manual_seed(21);
  const auto x = at::randn({4, 6}, at::kDouble);
  const auto y = at::randn({8, 3}, at::kDouble);
  const auto x3 = at::randn({2, 5, 3}, at::kDouble);
  return {
      op("slice(0, 1, 3)", {x}, [](const Tensors& t) { return t[0].slice(0, 1, 3); }),
      op("slice(0, 0, 3) prefix", {x}, [](const Tensors& t) { return t[0].slice(0, 0, 3); }),
      op("slice(0, 0, 7) prefix of 8", {y}, [](const Tensors& t) { return t[0].slice(0, 0, 7); }),
      op("slice(0, 0, 8, 2)", {y}, [](const Tensors& t) { return t[0].slice(0, 0, 8, 2); }),
      op("slice(0, 1, 8, 2)", {y}, [](const Tensors& t) { return t[0].slice(0, 1, 8, 2); }),
      op("slice(1, 1, 6, 2)", {x}, [](const Tensors& t) { return t[0].slice(1, 1, 6, 2); }),
      op("slice(-1, -4)", {x}, [](const Tensors& t) { return t[0].slice(-1, -4); }),
      op("slice full", {x}, [](const Tensors& t) { return t[0].slice(0, 0, 4); }),
      op("slice empty", {x}, [](const Tensors& t) { return t[0].slice(1, 4, 2); }),
      op("x[:, :-1] (3-D)", {x3}, [](const Tensors& t) { return t[0].slice(1, 0, -1); }),
      op("x[:, 1:] (3-D)", {x3}, [](const Tensors& t) { return t[0].slice(1, 1); }),
      op("narrow(1, 2, 3)", {x}, [](const Tensors& t) { return t[0].narrow(1, 2, 3); }),
      op("select(0, 1)", {x}, [](const Tensors& t) { return t[0].select(0, 1); }),
      op("select(0, -1)", {x}, [](const Tensors& t) { return t[0].select(0, -1); }),
      op("select(1, 4)", {x}, [](const Tensors& t) { return t[0].select(1, 4); }),
      op("select(1, 4) 3-D", {x3}, [](const Tensors& t) { return t[0].select(1, 4); }),
      op("x[:, -1] then matmul", {x3, at::randn({3, 2}, at::kDouble)},
         [](const Tensors& t) { return t[0].select(1, -1).mm(t[1]); }),
      op("select of select", {x3}, [](const Tensors& t) { return t[0].select(2, 1).select(0, 1); }),
      no_grad(op("select bool", {x.gt(0)}, [](const Tensors& t) { return t[0].select(0, 2); })),
      no_grad(op("select int", {at::randint(0, 9, {4, 6}, at::kLong)}, [](const Tensors& t) { return t[0].select(1, 5); })),
  };
}

std::vector<OpCase> lookup_cases() {
  at::manual_seed(22);
  const auto x = at::randn({4, 6}, at::kDouble);
  const auto x3 = at::randn({2, 5, 3}, at::kDouble);
  const auto rows = idx({3, 0, 2, 2, 1});
  const auto cols = idx({5, 0, 5});
  const auto g1 = at::randint(0, 6, {4, 2}, at::kLong);
  const auto g0 = at::randint(0, 4, {3, 6}, at::kLong);
  const auto gfull = at::randint(0, 6, {4, 6}, at::kLong);
  const auto labels = at::randint(0, 6, {4, 1}, at::kLong);
  return {
      op("index_select(0)", {x, rows}, [](const Tensors& t) { return t[0].index_select(0, t[1]); }),
      op("index_select(1)", {x, cols}, [](const Tensors& t) { return t[0].index_select(1, t[1]); }),
      op("index_select(1) 0-dim index", {x, idx({4}).reshape({})},
         [](const Tensors& t) { return t[0].index_select(1, t[1]); }),
      op("gather(1) [4, 2]", {x, g1}, [](const Tensors& t) { return t[0].gather(1, t[1]); }),
      op("gather(0) [3, 6]", {x, g0}, [](const Tensors& t) { return t[0].gather(0, t[1]); }),
      op("gather(1) full shape", {x, gfull}, [](const Tensors& t) { return t[0].gather(1, t[1]); }),
      op("gather labels (logits[i, y_i])", {x, labels}, [](const Tensors& t) { return t[0].gather(1, t[1]); }),
      op("x[rows]", {x, rows}, [](const Tensors& t) { return t[0].index({t[1]}); }),
      op("x[:, cols]", {x, cols}, [](const Tensors& t) {
        return t[0].index({at::indexing::Slice(), t[1]});
      }),
      op("x[rows2d]", {x, rows.slice(0, 0, 4).reshape({2, 2})}, [](const Tensors& t) { return t[0].index({t[1]}); }),
      op("x[r, c] broadcast", {x, idx({3, 1, 0}).reshape({3, 1}), idx({5, 2})},
         [](const Tensors& t) { return at::index(t[0], {t[1], t[2]}); }),
      op("x3[i, :, j] non-adjacent", {x3, idx({1, 0, 1}), idx({2, 2, 0})},
         [](const Tensors& t) { return t[0].index({t[1], at::indexing::Slice(), t[2]}); }),
      op("x3[:, i, j] adjacent", {x3, idx({4, 0}), idx({2, 1})},
         [](const Tensors& t) { return t[0].index({at::indexing::Slice(), t[1], t[2]}); }),
      op("take", {x, idx({23, 0, 7, 7})}, [](const Tensors& t) { return t[0].take(t[1]); }),
  };
}

std::vector<OpCase> write_cases() {
  at::manual_seed(23);
  const auto x = at::randn({4, 6}, at::kDouble);
  const auto src = at::randn({4, 6}, at::kDouble);
  const auto sidx = at::randint(0, 6, {4, 6}, at::kLong);
  const auto rows = idx({3, 1});
  const auto v = at::randn({2, 6}, at::kDouble);
  // scatter_ / scatter_add_ along dim 1 keep self's layout: S(1) cannot stay; a Partial self
  // passes only with src Partial or replicated (made Partial locally), and scatter_.value never.
  auto along_dim = [](bool partial_ok) {
    return inplace_raises([partial_ok](const std::vector<Placement>& r) {
      if (r[0].is_shard(1)) return true;
      return r[0].is_partial() && (!partial_ok || r[2].is_shard());
    });
  };
  return {
      op("scatter(1, idx, src)", {x, sidx, src}, [](const Tensors& t) { return t[0].scatter(1, t[1], t[2]); }),
      op("scatter(1, idx, 2.5)", {x, sidx}, [](const Tensors& t) { return t[0].scatter(1, t[1], 2.5); }),
      op("scatter_add(1)", {x, sidx, src}, [](const Tensors& t) { return t[0].scatter_add(1, t[1], t[2]); }),
      op("scatter_add(0) partial index", {x, sidx.slice(0, 0, 2).remainder(4), src.slice(0, 0, 2)},
         [](const Tensors& t) { return t[0].scatter_add(0, t[1], t[2]); }),
      op("scatter_reduce(1, amax)", {x, sidx, src},
         [](const Tensors& t) { return t[0].scatter_reduce(1, t[1], t[2], "amax"); }),
      with_raises(op("scatter_(1, idx, src)", {x, sidx, src},
                     [](const Tensors& t) { return t[0].clone().scatter_(1, t[1], t[2]); }),
                  along_dim(true)),
      with_raises(op("scatter_add_(1)", {x, sidx, src},
                     [](const Tensors& t) { return t[0].clone().scatter_add_(1, t[1], t[2]); }),
                  along_dim(true)),
      with_raises(op("scatter_(1, idx, value)", {x, sidx},
                     [](const Tensors& t) { return t[0].clone().scatter_(1, t[1], -1.0); }),
                  along_dim(false)),
      op("index_put (overwrite)", {x, rows, v}, [](const Tensors& t) { return t[0].index_put({t[1]}, t[2]); }),
      op("index_put (accumulate)", {x, idx({3, 1, 3}), at::randn({3, 6}, at::kDouble)},
         [](const Tensors& t) { return t[0].index_put({t[1]}, t[2], true); }),
      op("index_put broadcast value", {x, rows, at::randn({6}, at::kDouble)},
         [](const Tensors& t) { return t[0].index_put({t[1]}, t[2]); }),
      op("index_put [:, cols] (accumulate)", {x, idx({5, 0}), at::randn({4, 2}, at::kDouble)},
         [](const Tensors& t) {
           return at::index_put(t[0], c10::List<c10::optional<at::Tensor>>{c10::nullopt, t[1]}, t[2], true);
         }),
      op("index_put [:, cols]", {x, idx({5, 0}), at::randn({4, 2}, at::kDouble)}, [](const Tensors& t) {
        return at::index_put(t[0], c10::List<c10::optional<at::Tensor>>{c10::nullopt, t[1]}, t[2]);
      }),
      // index_put_ keeps self: it cannot stay sharded on the indexed dim 0; a Partial self needs
      // the values Partial or replicated.
      with_raises(op("index_put_", {x, rows, v}, [](const Tensors& t) { return t[0].clone().index_put_({t[1]}, t[2]); }),
                  inplace_raises([](const std::vector<Placement>& r) {
                    return r[0].is_shard(0) || (r[0].is_partial() && r[2].is_shard());
                  })),
      op("index_add(0)", {x, idx({3, 3, 0}), at::randn({3, 6}, at::kDouble)},
         [](const Tensors& t) { return t[0].index_add(0, t[1], t[2], 0.5); }),
      op("put (overwrite)", {x, idx({23, 0, 7}), at::randn({3}, at::kDouble)},
         [](const Tensors& t) { return t[0].put(t[1], t[2]); }),
      op("put (accumulate)", {x, idx({23, 7, 7}), at::randn({3}, at::kDouble)},
         [](const Tensors& t) { return t[0].put(t[1], t[2], true); }),
      // put_ keeps self, which must be whole (flat positions) or Partial as the rule allows.
      with_raises(op("put_ (accumulate)", {x, idx({5, 0}), at::randn({2}, at::kDouble)},
                     [](const Tensors& t) { return t[0].clone().put_(t[1], t[2], true); }),
                  inplace_raises([](const std::vector<Placement>& r) {
                    return r[0].is_shard() || (r[0].is_partial() && r[2].is_shard());
                  })),
      op("index_copy(1)", {x, idx({4, 1}), at::randn({4, 2}, at::kDouble)},
         [](const Tensors& t) { return t[0].index_copy(1, t[1], t[2]); }),
      op("index_fill(1, value)", {x, idx({4, 1})}, [](const Tensors& t) { return t[0].index_fill(1, t[1], 7.0); }),
      op("slice_scatter", {x, at::randn({2, 6}, at::kDouble)},
         [](const Tensors& t) { return at::slice_scatter(t[0], t[1], 0, 1, 3); }),
      op("select_scatter", {x, at::randn({4}, at::kDouble)},
         [](const Tensors& t) { return at::select_scatter(t[0], t[1], 1, 2); }),
  };
}

std::vector<OpCase> join_cases() {
  at::manual_seed(24);
  const auto a = at::randn({4, 6}, at::kDouble);
  const auto b = at::randn({2, 6}, at::kDouble);
  const auto c = at::randn({4, 3}, at::kDouble);
  const auto x3 = at::randn({2, 5, 3}, at::kDouble);
  return {
      op("cat(0)", {a, b}, [](const Tensors& t) { return at::cat({t[0], t[1]}, 0); }),
      op("cat(1)", {a, c}, [](const Tensors& t) { return at::cat({t[0], t[1]}, 1); }),
      op("cat(-1) three", {a, c, a}, [](const Tensors& t) { return at::cat({t[0], t[1], t[2]}, -1); }),
      op("cat with legacy empty", {a, at::zeros({0}, at::kDouble), b},
         [](const Tensors& t) { return at::cat({t[0], t[1], t[2]}, 0); }),
      op("stack(1)", {a, a.flip(0)}, [](const Tensors& t) { return at::stack({t[0], t[1]}, 1); }),
      op("stack(0)", {b, b * 2}, [](const Tensors& t) { return at::stack({t[0], t[1]}); }),
      ops("split(2, 1)", {a}, [](const Tensors& t) { return t[0].split(2, 1); }),
      ops("split(3, 0)", {a}, [](const Tensors& t) { return t[0].split(3, 0); }),
      ops("split_with_sizes({1, 3}, 0)", {a}, [](const Tensors& t) { return t[0].split_with_sizes({1, 3}, 0); }),
      ops("chunk(3, -1) (qkv)", {x3.reshape({5, 6})}, [](const Tensors& t) { return t[0].chunk(3, -1); }),
      ops("unsafe_split(2, 1)", {a}, [](const Tensors& t) { return at::unsafe_split(t[0], 2, 1); }),
      ops("unbind(0)", {a}, [](const Tensors& t) { return t[0].unbind(0); }),
      ops("unbind(1) 3-D", {x3}, [](const Tensors& t) { return t[0].unbind(1); }),
  };
}

std::vector<OpCase> rearrange_cases() {
  at::manual_seed(25);
  const auto x = at::randn({4, 6}, at::kDouble);
  const auto x3 = at::randn({2, 5, 3}, at::kDouble);
  const auto sq = at::randn({5, 5}, at::kDouble);
  return {
      op("constant_pad_nd({1, 2})", {x}, [](const Tensors& t) { return at::constant_pad_nd(t[0], {1, 2}); }),
      op("constant_pad_nd({0, 0, 1, 1}, 1.5)", {x}, [](const Tensors& t) { return at::constant_pad_nd(t[0], {0, 0, 1, 1}, 1.5); }),
      op("pad crop {-1, 0}", {x}, [](const Tensors& t) { return at::constant_pad_nd(t[0], {-1, 0}); }),
      op("repeat({2, 1})", {x}, [](const Tensors& t) { return t[0].repeat({2, 1}); }),
      op("repeat({2, 1, 3})", {x}, [](const Tensors& t) { return t[0].repeat({2, 1, 3}); }),
      op("roll(1, 0)", {x}, [](const Tensors& t) { return t[0].roll({1}, {0}); }),
      op("roll({2, -1}, {0, 1})", {x}, [](const Tensors& t) { return t[0].roll({2, -1}, {0, 1}); }),
      op("roll(3) flattened", {x}, [](const Tensors& t) { return t[0].roll({3}); }),
      op("flip(1)", {x}, [](const Tensors& t) { return t[0].flip({1}); }),
      op("flip(0, 2) 3-D", {x3}, [](const Tensors& t) { return t[0].flip({0, 2}); }),
      op("triu", {sq}, [](const Tensors& t) { return t[0].triu(); }),
      op("triu(1)", {x}, [](const Tensors& t) { return t[0].triu(1); }),
      op("tril(-1)", {x}, [](const Tensors& t) { return t[0].tril(-1); }),
      op("tril(2) 3-D", {x3}, [](const Tensors& t) { return t[0].tril(2); }),
      op("tril_ in place", {sq}, [](const Tensors& t) { return t[0].clone().tril_(-2); }),
      op("causal mask: masked by triu", {sq}, [](const Tensors& t) { return t[0] * t[0].new_ones({5, 5}).triu(1); }),
      ops("sort(1)", {x}, [](const Tensors& t) {
        auto r = t[0].sort(1);
        return Tensors{std::get<0>(r), std::get<1>(r)};
      }),
      ops("sort(0, descending)", {x}, [](const Tensors& t) {
        auto r = t[0].sort(0, true);
        return Tensors{std::get<0>(r), std::get<1>(r)};
      }),
      ops("topk(2, 1)", {x}, [](const Tensors& t) {
        auto r = t[0].topk(2, 1);
        return Tensors{std::get<0>(r), std::get<1>(r)};
      }),
      ops("topk(3, 1, smallest) 3-D", {x3}, [](const Tensors& t) {
        auto r = t[0].topk(3, 1, false);
        return Tensors{std::get<0>(r), std::get<1>(r)};
      }),
      op("argsort(-1)", {x3}, [](const Tensors& t) { return t[0].argsort(/*dim=*/-1, /*descending=*/false); }),
  };
}

void run_tables(const DeviceMesh& mesh, const std::string& label) {
  const std::vector<std::pair<std::string, std::function<std::vector<OpCase>()>>> tables = {
      {"slice/select", slicing_cases}, {"lookups", lookup_cases}, {"writes", write_cases},
      {"cat/stack/split", join_cases},  {"pad/repeat/roll/flip/triangles/sort", rearrange_cases}};
  for (const auto& [family, cases] : tables) {
    int64_t n = 0;
    for (const auto& c : cases()) n += check_op(c, mesh);
    dtensor::testing::report_op_cases("indexing: " + family + " (" + label + ")", n);
  }
}

DTensor shard(const at::Tensor& x, const DeviceMesh& mesh, Placements p) {
  return distribute_tensor(x, mesh, std::move(p));
}

}  // namespace

TEST(IndexingOpTable, AllPlacements) {
  for (int n : {2, 3, 4}) {
    run_world(n, [n](int) {
      run_tables(init_device_mesh("cpu", {n}), "world " + std::to_string(n));
      if (n == 4) run_tables(init_device_mesh("cpu", {2, 2}), "2x2 mesh");
    });
  }
}

// Promised communication: prefix slices, selects, lookups and triangles of sharded dims stay
// local; the results become Partial where only one rank holds the data.
TEST(IndexingLayouts, LocalSlicesSelectsAndLookups) {
  run_world(4, [](int) {
    auto mesh = init_device_mesh("cpu", {4});
    at::manual_seed(31);
    const auto full = at::randn({8, 6});
    auto x = shard(full, mesh, {Shard(0)});
    auto index = distribute_tensor(at::randint(0, 8, {3, 6}, at::kLong), mesh, {Replicate()});
    debug::CommDebugMode comm;
    DTensor prefix(x.slice(0, 0, 7));  // blocks 2,2,2,1: still torch.chunk pieces
    EXPECT_EQ(prefix.placements(), Placements{Shard(0)});
    EXPECT_TRUE(prefix.to_local().is_alias_of(x.to_local()));
    DTensor strided(x.slice(0, 0, 8, 2));  // one row per rank
    EXPECT_EQ(strided.placements(), Placements{Shard(0)});
    DTensor row(x.select(0, 5));
    EXPECT_EQ(row.placements(), Placements{Partial("sum")});
    DTensor picked(x.gather(0, index));
    EXPECT_EQ(picked.placements(), Placements{Partial("sum")});
    DTensor mask(x.triu(1));
    EXPECT_EQ(mask.placements(), Placements{Shard(0)});
    EXPECT_EQ(comm.get_total_counts(), 0);
    EXPECT_TRUE(prefix.full_tensor().equal(full.slice(0, 0, 7)));
    EXPECT_TRUE(row.full_tensor().equal(full.select(0, 5)));
    EXPECT_TRUE(mask.full_tensor().equal(full.triu(1)));
    // A shifted slice is not made of pieces: gathered once.
    debug::CommDebugMode shift_comm;
    DTensor shifted(x.slice(0, 1));
    EXPECT_EQ(shift_comm.get_comm_counts()["all_gather"], 1);
    EXPECT_TRUE(shifted.full_tensor().equal(full.slice(0, 1)));
  });
}

TEST(IndexingErrors, DataDependentShapes) {
  run_world(2, [](int) {
    auto mesh = init_device_mesh("cpu", {2});
    at::manual_seed(32);
    auto x = shard(at::randn({4, 6}), mesh, {Shard(0)});
    auto mask = shard(at::randn({4, 6}).gt(0), mesh, {Shard(0)});
    EXPECT_THROW_MSG(at::nonzero(x), c10::NotImplementedError, "data-dependent output shape");
    EXPECT_THROW_MSG(x.masked_select(mask), c10::NotImplementedError, "data-dependent output shape");
    EXPECT_THROW_MSG(x.index({mask}), c10::NotImplementedError, "boolean mask index");
    EXPECT_THROW_MSG(x.select(0, 4), c10::IndexError, "select(): index 4 out of range");
  });
}

// index_select keeps its index for backward (our own derivative, ops/derivatives.h): modifying it
// in place before backward must fail like a SavedVariable would, not give wrong gradients.
TEST(IndexingErrors, IndexSelectIndexModifiedBeforeBackward) {
  run_world(2, [](int) {
    auto mesh = init_device_mesh("cpu", {2});
    auto x = shard(at::randn({4, 6}), mesh, {Shard(1)}).requires_grad_();
    auto index = distribute_tensor(idx({3, 0}), mesh, {Replicate()});
    auto y = x.index_select(0, index);
    index.add_(1);
    EXPECT_THROW_MSG(y.sum().backward(), c10::Error, "was modified by an in-place operation");
  });
}

// index_put_ is recorded by our own autograd kernel (ops/derivatives.h): it must keep libtorch's
// in-place rules, the leaf check and the version bump that invalidates tensors saved before it.
TEST(IndexingErrors, IndexPutInPlaceAutogradRules) {
  run_world(2, [](int) {
    auto mesh = init_device_mesh("cpu", {2});
    auto rows = distribute_tensor(idx({3, 0}), mesh, {Replicate()});
    auto values = distribute_tensor(at::randn({2, 6}), mesh, {Replicate()});
    auto leaf = shard(at::randn({4, 6}), mesh, {Shard(1)}).requires_grad_();
    EXPECT_THROW_MSG(leaf.index_put_({rows}, values), c10::Error,
                     "a leaf Variable that requires grad is being used in an in-place operation");
    auto y = leaf.clone();
    auto saved = y * y;  // mul saves y
    const auto version = y._version();
    y.index_put_({rows}, values);
    EXPECT_EQ(y._version(), version + 1);
    EXPECT_THROW_MSG(saved.sum().backward(), c10::Error, "modified by an inplace operation");
  });
}
