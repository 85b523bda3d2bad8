// View and reshape ops on DTensors: values and gradients against plain tensors for every input
// placement (op table) on 1-D worlds of 2, 3 (uneven) and 4 ranks and a 2x2 mesh; strict views
// raise exactly when no rank-local view exists (checked against a brute-force oracle); views
// alias their base (in-place writes through them land in the base); the communication they
// promise.
#include <dtensor/debug/comm_debug_mode.h>
#include <dtensor/dtensor.h>

#include "harness/expect.h"
#include "harness/layout.h"
#include "harness/multiprocess.h"
#include "harness/op_check.h"

using namespace dtensor;
using dtensor::testing::check_op;
using dtensor::testing::OpCase;
using dtensor::testing::all_coordinates;
using dtensor::testing::piece;
using dtensor::testing::run_world;
using Tensors = std::vector<at::Tensor>;
using Shape = std::vector<int64_t>;

namespace {

OpCase one(std::string name, at::Tensor x, std::function<at::Tensor(const at::Tensor&)> f) {
  OpCase c;
  c.name = std::move(name);
  c.inputs = {std::move(x)};
  c.fn = [f](const Tensors& t) { return Tensors{f(t[0])}; };
  return c;
}

// Oracle for strict views, independent of the rule: a rank-local view exists when some output
// placement (each sharded input dim moved to some output dim) gives every coordinate exactly the
// elements, in order, of its input piece.
bool local_view_exists(const Shape& in, const Shape& out, const Placements& p, const DeviceMesh& mesh) {
  std::vector<int64_t> dims;
  for (const auto& x : p)
    if (x.is_shard() && std::find(dims.begin(), dims.end(), x.shard_dim()) == dims.end()) dims.push_back(x.shard_dim());
  if (dims.empty()) return true;
  if (out.empty()) return false;
  const auto x = at::arange(c10::multiply_integers(in)).view(in);
  const auto y = x.view(out);
  std::vector<int64_t> to(dims.size(), 0);
  while (true) {
    Placements q = p;
    for (auto& z : q)
      if (z.is_shard()) z = Shard(to[std::find(dims.begin(), dims.end(), z.shard_dim()) - dims.begin()]);
    bool same = true;
    for (const auto& c : all_coordinates(mesh))
      same = same && piece(x, p, mesh, c).reshape(-1).equal(piece(y, q, mesh, c).reshape(-1));
    if (same) return true;
    size_t i = 0;
    while (i < to.size() && ++to[i] == static_cast<int64_t>(out.size())) to[i++] = 0;
    if (i == to.size()) return false;
  }
}

OpCase strict_view(const at::Tensor& x, Shape out) {
  OpCase c = one("view [" + c10::Join(", ", x.sizes()) + "] -> [" + c10::Join(", ", out) + "]", x,
                 [out](const at::Tensor& t) { return t.view(out); });
  const Shape in = x.sizes().vec();
  c.raises = [in, out](const std::vector<Placements>& p, const DeviceMesh& mesh) {
    return !local_view_exists(in, out, p[0], mesh);
  };
  return c;
}

std::vector<OpCase> view_cases() {
  at::manual_seed(5);
  const auto x = at::randn({4, 6}, at::kDouble);
  const auto x3 = at::randn({2, 3, 4}, at::kDouble);
  const auto x5 = at::randn({5, 6}, at::kDouble);
  const auto ones = at::randn({4, 1, 6}, at::kDouble);
  std::vector<OpCase> cases;
  // Splits, flattens, regroups, size-1 dims (inserted and dropped), -1 inference.
  for (const Shape& out : std::vector<Shape>{{2, 2, 6}, {4, 2, 3}, {24}, {6, 4}, {2, 12}, {1, 4, 6}, {4, 6, 1}, {4, 1, 6}, {8, 3}})
    cases.push_back(strict_view(x, out));
  for (const Shape& out : std::vector<Shape>{{6, 4}, {2, 12}, {24}, {3, 2, 4}, {2, 3, 2, 2}, {1, 2, 3, 4, 1}, {2, 3, 4}})
    cases.push_back(strict_view(x3, out));
  for (const Shape& out : std::vector<Shape>{{30}, {10, 3}, {5, 2, 3}})
    cases.push_back(strict_view(x5, out));
  for (const Shape& out : std::vector<Shape>{{4, 6}, {2, 2, 6}, {24}})
    cases.push_back(strict_view(ones, out));
  {
    OpCase c = one("view(-1, 3)", x, [](const at::Tensor& t) { return t.view({-1, 3}); });
    c.raises = [](const std::vector<Placements>& p, const DeviceMesh& mesh) {
      return !local_view_exists({4, 6}, {8, 3}, p[0], mesh);
    };
    cases.push_back(c);
  }
  // reshape never raises: _reshape_alias (viewable) or clone + _unsafe_view (transposed input).
  cases.push_back(one("reshape [24]", x, [](const at::Tensor& t) { return t.reshape({24}); }));
  cases.push_back(one("reshape [3, 8]", x, [](const at::Tensor& t) { return t.reshape({3, 8}); }));
  cases.push_back(one("reshape transposed [24]", x, [](const at::Tensor& t) { return t.t().reshape({24}); }));
  cases.push_back(one("reshape transposed [2, 12]", x, [](const at::Tensor& t) { return t.t().reshape({2, 12}); }));
  cases.push_back(one("reshape [-1, 10]", x5, [](const at::Tensor& t) { return t.reshape({-1, 10}); }));
  cases.push_back(one("flatten", x3, [](const at::Tensor& t) { return t.flatten(); }));
  cases.push_back(one("flatten(1)", x3, [](const at::Tensor& t) { return t.flatten(1); }));
  {  // unflatten decomposes to view: strict
    OpCase c = one("unflatten(1, [2, 3])", x, [](const at::Tensor& t) { return t.unflatten(1, {2, 3}); });
    c.raises = [](const std::vector<Placements>& p, const DeviceMesh& mesh) {
      return !local_view_exists({4, 6}, {4, 2, 3}, p[0], mesh);
    };
    cases.push_back(c);
  }
  cases.push_back(one("view_as", x, [](const at::Tensor& t) { return t.reshape({24}).view_as(t); }));
  cases.push_back(one("reshape 3-D transposed heads", x3, [](const at::Tensor& t) { return t.transpose(0, 1).reshape({3, 8}); }));
  return cases;
}

// The case raises when the input is sharded on its size-1 dim 1 (on some mesh dim).
OpCase squeezes_sharded(OpCase c) {
  c.raises = [](const std::vector<Placements>& p, const DeviceMesh&) {
    return std::any_of(p[0].begin(), p[0].end(), [](const Placement& x) { return x.is_shard(1); });
  };
  return c;
}

std::vector<OpCase> layout_cases() {
  at::manual_seed(6);
  const auto x = at::randn({4, 6}, at::kDouble);
  const auto x3 = at::randn({2, 3, 4}, at::kDouble);
  const auto ones = at::randn({4, 1, 6}, at::kDouble);
  const auto col = at::randn({4, 1}, at::kDouble);
  const auto c = at::randn({3, 4, 2}, at::kDouble);
  const auto bits = at::randint(-1000, 1000, {4, 6}, at::kInt);
  return {
      one("t", x, [](const at::Tensor& t) { return t.t(); }),
      one("t 1-D", x.reshape({24}), [](const at::Tensor& t) { return t.t(); }),
      one("transpose(0, 2)", x3, [](const at::Tensor& t) { return t.transpose(0, 2); }),
      one("transpose(-1, 1)", x3, [](const at::Tensor& t) { return t.transpose(-1, 1); }),
      one("permute(2, 0, 1)", x3, [](const at::Tensor& t) { return t.permute({2, 0, 1}); }),
      one("movedim(0, -1)", x3, [](const at::Tensor& t) { return t.movedim(0, -1); }),
      one("swapaxes(0, 1)", x, [](const at::Tensor& t) { return t.swapaxes(0, 1); }),
      one("unsqueeze(0)", x, [](const at::Tensor& t) { return t.unsqueeze(0); }),
      one("unsqueeze(-1)", x, [](const at::Tensor& t) { return t.unsqueeze(-1); }),
      one("unsqueeze(1)", x, [](const at::Tensor& t) { return t.unsqueeze(1); }),
      one("squeeze()", ones, [](const at::Tensor& t) { return t.squeeze(); }),
      one("squeeze(1)", ones, [](const at::Tensor& t) { return t.squeeze(1); }),
      // Dims of global size > 1 stay, even where a local piece has size 1 (4 rows over 4 ranks).
      one("squeeze() no size-1 dim", x, [](const at::Tensor& t) { return t.squeeze(); }),
      one("squeeze(0) size 4", x, [](const at::Tensor& t) { return t.squeeze(0); }),
      // In-place forms change the DTensor's shape and placements; squeezing a sharded size-1 dim
      // in place would need self redistributed: it raises.
      one("t_", x, [](const at::Tensor& t) { return t.clone().t_(); }),
      one("transpose_(0, 2)", x3, [](const at::Tensor& t) { return t.clone().transpose_(0, 2); }),
      one("unsqueeze_(1)", x, [](const at::Tensor& t) { return t.clone().unsqueeze_(1); }),
      squeezes_sharded(one("squeeze_(1)", ones, [](const at::Tensor& t) { return t.clone().squeeze_(1); })),
      one("squeeze_(0) size 4", x, [](const at::Tensor& t) { return t.clone().squeeze_(0); }),
      one("expand [4, 3]", col, [](const at::Tensor& t) { return t.expand({4, 3}); }),
      one("expand [2, 4, 5, -1]", ones, [](const at::Tensor& t) { return t.expand({2, 4, 5, -1}); }),
      one("expand_as", col, [](const at::Tensor& t) { return t.expand_as(at::empty({3, 4, 5})); }),
      one("view_as_real(view_as_complex)", c, [](const at::Tensor& t) { return at::view_as_real(at::view_as_complex(t)); }),
      one("view(dtype) same size", bits, [](const at::Tensor& t) { return t.view(at::kFloat).view(at::kInt); }),
      // (int16 would be the natural test, but Gloo cannot gather it.)
      one("view(dtype) int32 -> int64", bits, [](const at::Tensor& t) { return t.view(at::kLong); }),
      one("view(dtype) int64 -> int32", bits.view(at::kLong).contiguous(), [](const at::Tensor& t) { return t.view(at::kInt); }),
      one("view(dtype) float64 -> int32 3-D", x3, [](const at::Tensor& t) { return t.view(at::kInt); }),
      one("diagonal", x, [](const at::Tensor& t) { return t.diagonal(1); }),
      one("diagonal(0, 0, 2) 3-D", x3, [](const at::Tensor& t) { return t.diagonal(0, 0, 2); }),
      one("diagonal(-1, 2, 1) 3-D", x3, [](const at::Tensor& t) { return t.diagonal(-1, 2, 1); }),
      one("unfold(1, 2, 2)", x, [](const at::Tensor& t) { return t.unfold(1, 2, 2); }),
      one("unfold(0, 3, 1)", x3.reshape({6, 4}), [](const at::Tensor& t) { return t.unfold(0, 3, 1); }),
  };
}

void run_tables(int world, const DeviceMesh& mesh, const std::string& label) {
  int64_t views = 0, layouts = 0;
  for (const auto& c : view_cases()) views += check_op(c, mesh);
  for (const auto& c : layout_cases()) layouts += check_op(c, mesh);
  dtensor::testing::report_op_cases("views: view/reshape (" + label + ")", views);
  dtensor::testing::report_op_cases("views: layout views (" + label + ")", layouts);
}

DTensor shard(const at::Tensor& x, const DeviceMesh& mesh, Placements p) {
  return distribute_tensor(x, mesh, std::move(p));
}

}  // namespace

TEST(ViewsOpTable, AllPlacements) {
  for (int n : {2, 3, 4}) {
    run_world(n, [n](int) {
      run_tables(n, init_device_mesh("cpu", {n}), "world " + std::to_string(n));
      if (n == 4) run_tables(n, init_device_mesh("cpu", {2, 2}), "2x2 mesh");
    });
  }
}

TEST(ViewsStrict, ErrorsNameTheDimension) {
  run_world(4, [](int) {
    auto mesh = init_device_mesh("cpu", {4});
    at::manual_seed(4);
    auto x = shard(at::randn({4, 6}), mesh, {Shard(1)});
    EXPECT_THROW_MSG(x.view({24}), c10::Error, "Attempted to flatten sharded dimension 1, but only the leftmost dim of a Flatten can be sharded");
    auto uneven = shard(at::randn({5, 6}), mesh, {Shard(0)});
    EXPECT_THROW_MSG(uneven.view({30}), c10::Error, "Attempted to flatten unevenly sharded dimension 0");
    auto rows = shard(at::randn({6, 4}), mesh, {Shard(0)});
    EXPECT_THROW_MSG(rows.view({2, 3, 4}), c10::Error, "Attempted to split unevenly sharded dimension 0");
    auto single = shard(at::randn({4, 1}), mesh, {Shard(1)});
    EXPECT_THROW_MSG(single.view({4}), c10::Error, "Attempted to flatten unevenly sharded dimension 1");
    auto scalar = shard(at::randn({1}), mesh, {Shard(0)});
    EXPECT_THROW_MSG(scalar.view(std::vector<int64_t>{}), c10::Error, "Attempted to drop sharded dimension 0");
    EXPECT_THROW_MSG(x.t().view({24}), c10::Error, "view size is not compatible with input tensor's size and stride");
    EXPECT_THROW_MSG(x.as_strided({2, 2}, {1, 2}), c10::NotImplementedError, "as_strided is not supported on DTensors");
    // reshape redistributes instead.
    EXPECT_TRUE(DTensor(x.reshape({24})).full_tensor().equal(x.full_tensor().reshape({24})));
  });
}

TEST(ViewsStrict, ExactUnevenViewsStayLocal) {
  run_world(3, [](int) {
    auto mesh = init_device_mesh("cpu", {3});
    at::manual_seed(3);
    const auto full = at::randn({4, 6});
    auto x = shard(full, mesh, {Shard(0)});  // rows 2, 2, 0
    debug::CommDebugMode comm;
    DTensor v(x.view({2, 2, 6}));            // output rows 1, 1, 0: the same elements
    EXPECT_EQ(v.placements(), Placements{Shard(0)});
    EXPECT_EQ(comm.get_total_counts(), 0);
    EXPECT_TRUE(v.to_local().is_alias_of(x.to_local()));
    // A non-exact flatten through reshape gathers once.
    DTensor r(shard(full, mesh, {Shard(1)}).reshape({24}));
    EXPECT_EQ(comm.get_comm_counts()["all_gather"], 1);
    EXPECT_TRUE(r.full_tensor().equal(full.reshape({24})));
  });
}

// In-place writes through a view of a DTensor land in its base, on every rank's shard.
TEST(ViewsAliasing, InPlaceThroughViewsUpdatesBase) {
  for (int n : {2, 3, 4}) {
    run_world(n, [n](int) {
      auto mesh = init_device_mesh("cpu", {n});
      at::manual_seed(9);
      const auto full = at::randn({4, 6});
      using View = std::function<at::Tensor(const at::Tensor&)>;
      const std::vector<std::pair<std::string, View>> views = {
          {"transpose", [](const at::Tensor& t) { return t.transpose(0, 1); }},
          {"unsqueeze", [](const at::Tensor& t) { return t.unsqueeze(1); }},
          {"permute", [](const at::Tensor& t) { return t.permute({1, 0}); }},
          {"view split rows", [](const at::Tensor& t) { return t.view({2, 2, 6}); }},
          {"view split cols", [](const at::Tensor& t) { return t.view({4, 2, 3}); }},
          {"reshape", [](const at::Tensor& t) { return t.reshape({2, 2, 6}); }},
          {"squeeze", [](const at::Tensor& t) { return t.unsqueeze(0).squeeze(0); }},
          {"slice prefix", [](const at::Tensor& t) { return t.slice(0, 0, 3); }},
          {"slice cols", [](const at::Tensor& t) { return t.slice(1, 1, 5, 2); }},
          {"select row", [](const at::Tensor& t) { return t.select(0, 1); }},
          {"select col", [](const at::Tensor& t) { return t.select(1, 4); }},
          {"narrow", [](const at::Tensor& t) { return t.narrow(1, 2, 3); }},
          {"split piece", [](const at::Tensor& t) { return t.split(2, 1)[1]; }},
          {"unbind piece", [](const at::Tensor& t) { return t.unbind(1)[3]; }},
          {"diagonal", [](const at::Tensor& t) { return t.diagonal(); }},
      };
      for (const Placements& p : std::vector<Placements>{{Shard(0)}, {Shard(1)}}) {
        for (const auto& [name, view] : views) {
          // Skip layouts whose view needs a redistribution (then it cannot alias the base).
          auto base = shard(full, mesh, p);
          bool local = true;
          at::Tensor v;
          {
            debug::CommDebugMode comm;
            try {
              v = view(base);
            } catch (const c10::Error&) {
              local = false;
            }
            local = local && comm.get_total_counts() == 0;
          }
          if (!local) continue;
          SCOPED_TRACE(name + " of " + to_string(p) + " on " + std::to_string(n) + " ranks");
          v.mul_(2);
          auto expected = full.clone();
          view(expected).mul_(2);
          EXPECT_TRUE(DTensor(base).full_tensor().allclose(expected));
        }
      }
      // Views that keep the dim sharded on every world: never skipped above.
      auto base = shard(full, mesh, {Shard(0)});
      base.transpose(0, 1).select(1, 3).mul_(-1);
      auto expected = full.clone();
      expected.select(0, 3).mul_(-1);
      EXPECT_TRUE(DTensor(base).full_tensor().allclose(expected));
    });
  }
}
