// Random ops on DTensors are sharding-invariant: for every op, the values of a tensor sharded or
// replicated over 2, 3 (uneven), 4 ranks or a 2x2 mesh (nested shards) equal those of the same
// tensor replicated on a 1-rank mesh, replicas agree across ranks, consecutive ops keep the
// ranks' generators in step, and the values follow the documented Philox layout (checked against
// ATen's own Philox engine). Also: Partial inputs and explicit generators are rejected, the
// DTensor generator is independent of torch's, dropout's gradient uses its mask, and the
// distributions have the right moments.
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/PhiloxRNGEngine.h>
#include <dtensor/comm.h>
#include <dtensor/dtensor.h>
#include <torch/nn/modules/dropout.h>

#include "harness/expect.h"
#include "harness/layout.h"
#include "harness/multiprocess.h"

using namespace dtensor;
using dtensor::testing::run_world;
using Tensors = std::vector<at::Tensor>;

namespace {

// A random op as a function of its input tensor (a DTensor, or on the 1-rank mesh the reference).
struct RandomCase {
  std::string name;
  at::Tensor input;  // global
  std::function<Tensors(const at::Tensor&)> fn;
};

at::Tensor in_place(const at::Tensor& x, const std::function<void(at::Tensor&)>& f) {
  auto y = x.clone();
  f(y);
  return y;
}

std::vector<RandomCase> random_cases() {
  at::manual_seed(5);
  const auto f = at::zeros({7, 5});
  const auto d3 = at::zeros({3, 4, 5}, at::kDouble);
  const auto probs = at::rand({7, 5});
  const auto x = at::randn({7, 5});
  auto one = [](std::string name, at::Tensor input, std::function<void(at::Tensor&)> op) {
    return RandomCase{std::move(name), std::move(input), [op](const at::Tensor& t) { return Tensors{in_place(t, op)}; }};
  };
  auto out = [](std::string name, at::Tensor input, std::function<Tensors(const at::Tensor&)> op) {
    return RandomCase{std::move(name), std::move(input), std::move(op)};
  };
  return {
      one("uniform_ float", f, [](at::Tensor& t) { t.uniform_(-2, 3); }),
      one("uniform_ double 3-D", d3, [](at::Tensor& t) { t.uniform_(); }),
      one("uniform_ bfloat16", f.to(at::kBFloat16), [](at::Tensor& t) { t.uniform_(); }),
      one("normal_ float", f, [](at::Tensor& t) { t.normal_(1, 2); }),
      one("normal_ double 3-D", d3, [](at::Tensor& t) { t.normal_(); }),
      one("normal_ half", f.to(at::kHalf), [](at::Tensor& t) { t.normal_(); }),
      one("log_normal_", f, [](at::Tensor& t) { t.log_normal_(0.5, 0.25); }),
      one("exponential_", d3, [](at::Tensor& t) { t.exponential_(2); }),
      one("cauchy_", f, [](at::Tensor& t) { t.cauchy_(); }),
      one("geometric_", f, [](at::Tensor& t) { t.geometric_(0.3); }),
      one("bernoulli_.float", f, [](at::Tensor& t) { t.bernoulli_(0.3); }),
      one("bernoulli_.float on int64", f.to(at::kLong), [](at::Tensor& t) { t.bernoulli_(0.5); }),
      one("random_.from", f.to(at::kLong), [](at::Tensor& t) { t.random_(-5, 9); }),
      one("random_.to", f.to(at::kInt), [](at::Tensor& t) { t.random_(100); }),
      one("random_", f, [](at::Tensor& t) { t.random_(); }),
      one("bernoulli_.Tensor (broadcast p)", f, [](at::Tensor& t) {
        t.bernoulli_(at::linspace(0, 1, 5));  // a plain 5-element p needs implicit replication
      }),
      out("bernoulli", probs, [](const at::Tensor& t) { return Tensors{at::bernoulli(t)}; }),
      out("bernoulli.p", f, [](const at::Tensor& t) { return Tensors{at::bernoulli(t, 0.7)}; }),
      out("native_dropout", x, [](const at::Tensor& t) {
        auto r = at::native_dropout(t, 0.4, true);
        return Tensors{std::get<0>(r), std::get<1>(r)};
      }),
      out("dropout (bernoulli_ + div_ + mul)", x, [](const at::Tensor& t) { return Tensors{at::dropout(t, 0.4, true)}; }),
      out("rand_like", d3, [](const at::Tensor& t) { return Tensors{at::rand_like(t)}; }),
      out("randn_like (float)", d3, [](const at::Tensor& t) { return Tensors{at::randn_like(t, at::kFloat)}; }),
      out("randint_like", f, [](const at::Tensor& t) { return Tensors{at::randint_like(t, 3, 17)}; }),
      out("two ops in a row", f, [](const at::Tensor& t) {
        auto a = at::rand_like(t);
        auto b = in_place(t, [](at::Tensor& y) { y.normal_(); });
        return Tensors{a, b};
      }),
  };
}

// Every layout of a tensor of `ndim` dims on `mesh`: Replicate or Shard(d) per mesh dim.
std::vector<Placements> layouts(int64_t ndim, const DeviceMesh& mesh) {
  std::vector<Placement> opts{Replicate{}};
  for (int64_t d = 0; d < ndim; ++d) opts.push_back(Shard(d));
  return dtensor::testing::every_layout(opts, mesh);
}

// Gloo moves no 16-bit floats: compare those outputs as float (an exact conversion).
at::Tensor comparable(const at::Tensor& t) {
  const auto type = t.scalar_type();
  return type == at::kHalf || type == at::kBFloat16 ? t.to(at::kFloat) : t;
}

// The reference: each case on a Replicate DTensor of a mesh holding rank 0 only, computed there
// and broadcast. Seeds before every case.
std::vector<Tensors> reference_values(const std::vector<RandomCase>& cases, uint64_t seed) {
  DeviceMesh solo("cpu", at::zeros({1}, at::kLong));
  std::vector<Tensors> refs;
  for (const auto& c : cases) {
    Tensors values;
    if (get_rank() == 0) {
      manual_seed(seed, solo);
      ImplicitReplicationGuard implicit;
      for (const auto& v : c.fn(distribute_tensor(c.input, solo, {Replicate()})))
        values.push_back(DTensor(comparable(v)).full_tensor());
    } else {
      for (const auto& v : c.fn(c.input.clone())) values.push_back(at::empty_like(comparable(v)));  // shapes only
    }
    for (auto& v : values) v = comm::broadcast(v, 0, world_group());
    refs.push_back(values);
  }
  return refs;
}

// Local tensors of the ranks that replicate this one (same coordinate on every Shard mesh dim)
// must be identical.
void expect_replicas_agree(const DTensor& t) {
  const auto& mesh = t.device_mesh();
  for (int64_t m = 0; m < mesh.ndim(); ++m) {
    if (!t.placements()[m].is_replicate()) continue;
    auto local = t.to_local().contiguous();
    auto gathered = comm::all_gather(local.unsqueeze(0), 0, mesh.get_group(m));
    for (int64_t r = 1; r < gathered.size(0); ++r)
      EXPECT_TRUE(at::equal(gathered[r], gathered[0])) << "replicas differ on mesh dim " << m;
  }
}

int64_t check_invariance(const std::vector<RandomCase>& cases, const std::vector<Tensors>& refs,
                         const DeviceMesh& mesh, uint64_t seed) {
  int64_t checked = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    for (const auto& p : layouts(c.input.dim(), mesh)) {
      SCOPED_TRACE(c.name + " with placements " + to_string(p) + " on " + c10::str(mesh));
      manual_seed(seed, mesh);
      ImplicitReplicationGuard implicit;
      const auto outs = c.fn(distribute_tensor(c.input, mesh, p, std::nullopt));
      EXPECT_EQ(outs.size(), refs[i].size());
      for (size_t j = 0; j < std::min(outs.size(), refs[i].size()); ++j) {
        if (!is_dtensor(outs[j])) {
          ADD_FAILURE() << "output " << j << " is not a DTensor";
          continue;
        }
        const DTensor d(comparable(outs[j]));
        EXPECT_EQ(d.placements(), p) << "output " << j;
        const auto full = d.full_tensor();
        EXPECT_TRUE(at::equal(full, refs[i][j]))
            << "output " << j << " differs from the 1-rank reference:\n" << full << "\n" << refs[i][j];
        expect_replicas_agree(d);
      }
      ++checked;
    }
  }
  return checked;
}

void report(const char* what, int64_t n) {
  if (get_rank() == 0) std::printf("[random] %s: %lld (op, placement) cases\n", what, static_cast<long long>(n));
}

}  // namespace

TEST(Random, ShardingInvariantAcrossPlacementsAndWorlds) {
  for (int n : {2, 3, 4}) {
    run_world(n, [n](int) {
      const uint64_t seed = 1234;
      const auto cases = random_cases();
      const auto refs = reference_values(cases, seed);
      int64_t total = check_invariance(cases, refs, init_device_mesh("cpu", {n}), seed);
      if (n == 4) total += check_invariance(cases, refs, init_device_mesh("cpu", {2, 2}), seed);
      report("sharding invariance", total);
    });
  }
}

// The documented layout: after manual_seed(s), the first op's element g reads word g % 4 of
// Philox block g / 4 (key s); a float uniform keeps the word's top 24 bits.
TEST(Random, FollowsThePhiloxLayout) {
  run_world(2, [](int) {
    auto mesh = init_device_mesh("cpu", {2});
    const uint64_t seed = 0x0123456789abcdefULL;
    manual_seed(seed, mesh);
    auto u = DTensor(distribute_tensor(at::zeros({5, 3}), mesh, {Shard(0)}).uniform_()).full_tensor();
    auto b = DTensor(distribute_tensor(at::zeros({9}), mesh, {Shard(0)}).bernoulli_(0.25)).full_tensor();
    // The second op starts at block ceil(15 / 4) = 4.
    for (int64_t g = 0; g < 15; ++g) {
      at::Philox4_32 engine(seed, 0, g / 4);
      uint32_t w = 0;
      for (int64_t k = 0; k <= g % 4; ++k) w = engine();
      EXPECT_EQ(u.view(-1)[g].item<float>(), static_cast<float>(w >> 8) * 0x1p-24f) << "element " << g;
    }
    for (int64_t g = 0; g < 9; ++g) {
      at::Philox4_32 engine(seed, 0, 4 + g / 4);
      uint32_t w = 0;
      for (int64_t k = 0; k <= g % 4; ++k) w = engine();
      EXPECT_EQ(b[g].item<float>(), w < 0x40000000u ? 1.f : 0.f) << "element " << g;
    }
  });
}

TEST(Random, RejectsPartialAndExplicitGenerators) {
  run_world(2, [](int rank) {
    auto mesh = init_device_mesh("cpu", {2});
    manual_seed(0, mesh);
    auto partial = DTensor::from_local(at::ones({4, 2}), mesh, {Partial()});
    EXPECT_THROW_MSG(partial.uniform_(), c10::Error, "aten::uniform_ with Partial is not supported yet!");
    EXPECT_THROW_MSG(at::native_dropout(partial, 0.5, true), c10::Error,
                     "aten::native_dropout with Partial is not supported yet!");
    EXPECT_THROW_MSG(partial.bernoulli_(0.5), c10::Error, "aten::bernoulli_.float with Partial is not supported yet!");
    // *_like only take the layout: a Partial input is fine and its mesh dims become Replicate.
    EXPECT_EQ(DTensor(at::rand_like(partial)).placements(), Placements{Replicate()});

    auto sharded = distribute_tensor(at::zeros({4, 2}), mesh, {Shard(0)});
    auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
    EXPECT_THROW_MSG(sharded.uniform_(0, 1, gen), c10::NotImplementedError, "explicit Generator");
    EXPECT_THROW_MSG(sharded.bernoulli_(1.5), c10::Error, "bernoulli_ expects p to be in [0, 1]");
    EXPECT_THROW_MSG(sharded.normal_(0, -1), c10::Error, "normal_ expects std >= 0.0");
    DeviceMesh rank1_only("cpu", at::ones({1}, at::kLong));
    if (rank == 0) EXPECT_THROW_MSG(manual_seed(1, rank1_only), c10::Error, "requires the current rank to be a part of the device mesh");
  });
}

// DTensor random ops neither read nor advance torch's generator, and torch::manual_seed does not
// change their values.
TEST(Random, IndependentOfTorchGenerator) {
  run_world(2, [](int) {
    auto mesh = init_device_mesh("cpu", {2});
    auto draw = [&](uint64_t torch_seed) {
      torch::manual_seed(torch_seed);
      manual_seed(9, mesh);
      auto before = at::rand({3});
      auto d = DTensor(distribute_tensor(at::zeros({6}), mesh, {Shard(0)}).normal_()).full_tensor();
      auto after = at::rand({3});
      torch::manual_seed(torch_seed);
      auto expect = at::rand({6});
      EXPECT_TRUE(at::equal(at::cat({before, after}), expect)) << "torch's generator was used";
      return d;
    };
    EXPECT_TRUE(at::equal(draw(1), draw(2)));
  });
}

// Without manual_seed the first random op takes the seed of rank 0's torch generator: ranks
// seeded differently still agree.
TEST(Random, UnseededRanksAgree) {
  run_world(3, [](int rank) {
    auto mesh = init_device_mesh("cpu", {3});
    torch::manual_seed(100 + rank);
    auto t = DTensor(distribute_tensor(at::zeros({4, 4}), mesh, {Replicate()}).uniform_());
    auto gathered = comm::all_gather(t.to_local().unsqueeze(0), 0, world_group());
    EXPECT_TRUE(at::equal(gathered[1], gathered[0]));
    EXPECT_TRUE(at::equal(gathered[2], gathered[0]));
    torch::manual_seed(100);  // rank 0's seed: the same stream as an explicit manual_seed
    manual_seed(at::detail::getDefaultCPUGenerator().current_seed(), mesh);
    auto again = DTensor(distribute_tensor(at::zeros({4, 4}), mesh, {Shard(1)}).uniform_()).full_tensor();
    EXPECT_TRUE(at::equal(again, gathered[0]));
  });
}

// dropout's backward multiplies by the mask it drew (native_dropout_backward is pointwise), in
// training through torch::nn::Dropout too; in eval mode nothing is drawn.
TEST(Random, DropoutGradientsAndModule) {
  run_world(3, [](int) {
    auto mesh = init_device_mesh("cpu", {3});
    manual_seed(4, mesh);
    at::manual_seed(0);  // the same data on every rank
    auto x_full = at::randn({5, 4});
    auto x = distribute_tensor(x_full, mesh, {Shard(0)}).set_requires_grad(true);
    auto [out, mask] = at::native_dropout(x, 0.25, true);
    auto g = distribute_tensor(at::randn({5, 4}), mesh, {Shard(0)});
    out.backward(g);
    auto mask_full = DTensor(mask).full_tensor();
    EXPECT_EQ(mask_full.scalar_type(), at::kBool);
    EXPECT_TRUE(at::allclose(DTensor(out).full_tensor(), x_full * mask_full / 0.75));
    EXPECT_TRUE(at::allclose(DTensor(x.grad()).full_tensor(), DTensor(g).full_tensor() * mask_full / 0.75));
    EXPECT_EQ(DTensor(x.grad()).placements(), Placements{Shard(0)});

    torch::nn::Dropout drop(torch::nn::DropoutOptions(0.5));
    auto y = distribute_tensor(at::ones({6, 4}), mesh, {Shard(1)});
    auto dropped = DTensor(drop(y)).full_tensor();
    EXPECT_TRUE(at::logical_or(dropped == 0, dropped == 2).all().item<bool>());
    drop->eval();
    EXPECT_TRUE(at::equal(DTensor(drop(y)).full_tensor(), at::ones({6, 4})));
    auto [eval_out, eval_mask] = at::native_dropout(y, 0.5, false);
    EXPECT_TRUE(DTensor(eval_mask).full_tensor().all().item<bool>());
  });
}

// Moments of large draws (deterministic for the seed; bounds of about 5 standard errors).
TEST(Random, DistributionsHaveTheirMoments) {
  run_world(2, [](int) {
    auto mesh = init_device_mesh("cpu", {2});
    manual_seed(77, mesh);
    const int64_t n = 200000;
    auto draw = [&](const std::function<void(at::Tensor&)>& f, at::ScalarType dtype = at::kFloat) {
      auto t = distribute_tensor(at::zeros({n}, dtype), mesh, {Shard(0)});
      f(t);
      return DTensor(t).full_tensor().to(at::kDouble);
    };
    const double se = 1 / std::sqrt(static_cast<double>(n));
    auto u = draw([](at::Tensor& t) { t.uniform_(); });
    EXPECT_NEAR(u.mean().item<double>(), 0.5, 5 * se * 0.29);
    EXPECT_GE(u.min().item<double>(), 0.0);
    EXPECT_LT(u.max().item<double>(), 1.0);
    for (auto dtype : {at::kFloat, at::kDouble}) {
      auto z = draw([](at::Tensor& t) { t.normal_(); }, dtype);
      EXPECT_NEAR(z.mean().item<double>(), 0.0, 5 * se);
      EXPECT_NEAR(z.std().item<double>(), 1.0, 5 * se);
      EXPECT_NEAR((z * z * z * z).mean().item<double>(), 3.0, 5 * se * 10);  // E z^4 = 3, sd(z^4) ~ 9.8
    }
    auto b = draw([](at::Tensor& t) { t.bernoulli_(0.3); });
    EXPECT_NEAR(b.mean().item<double>(), 0.3, 5 * se * 0.46);
    auto e = draw([](at::Tensor& t) { t.exponential_(4); });
    EXPECT_NEAR(e.mean().item<double>(), 0.25, 5 * se * 0.25);
    auto r = draw([](at::Tensor& t) { t.random_(0, 10); }, at::kLong);
    EXPECT_EQ(r.min().item<double>(), 0);
    EXPECT_EQ(r.max().item<double>(), 9);
    EXPECT_NEAR(r.mean().item<double>(), 4.5, 5 * se * 2.9);
  });
}
