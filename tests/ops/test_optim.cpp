// torch::optim (SGD, Adam, AdamW: libtorch 1.13's own step() code) and
// torch::nn::utils::clip_grad_norm_ on DTensor parameters: sharded, replicated, and the
// SequenceParallel norm case (a Replicate parameter whose gradient is Partial). Parameters and
// optimizer state must equal a single-process reference on every rank; an optimizer step must not
// communicate except to reduce Partial gradients; a learning-rate schedule must not grow the
// sharding cache.
#include <algorithm>
#include <cstdio>
#include <limits>

#include <dtensor/debug/comm_debug_mode.h>
#include <dtensor/dtensor.h>
#include <torch/nn/functional/linear.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/schedulers/step_lr.h>
#include <torch/optim/sgd.h>

#include "harness/multiprocess.h"

using namespace dtensor;
using dtensor::testing::run_world;
namespace optim = torch::optim;

namespace {

struct ParamDef {
  std::string name;
  std::vector<int64_t> shape;
  Placements placements;
  bool partial_grad;  // the gradient arrives Partial(sum) over every mesh dim
};

std::vector<ParamDef> param_defs(const DeviceMesh& mesh) {
  if (mesh.ndim() == 1)
    return {{"w0 S(0)", {5, 4}, {Shard(0)}, false},
            {"w1 S(1)", {4, 6}, {Shard(1)}, false},
            {"bias R", {6}, {Replicate()}, false},
            {"norm R, grad P", {6}, {Replicate()}, true}};
  return {{"w0 [S(0), S(1)]", {5, 4}, {Shard(0), Shard(1)}, false},
          {"w1 [R, S(1)]", {4, 6}, {Replicate(), Shard(1)}, false},
          {"bias [S(0), R]", {6}, {Shard(0), Replicate()}, false},
          {"norm [R, R], grad [P, P]", {6}, {Replicate(), Replicate()}, true}};
}

// A gradient laid out like its parameter, or Partial(sum) on every mesh dim: the first rank holds
// g minus the others' noise.
at::Tensor dtensor_grad(const ParamDef& def, const at::Tensor& g, const DeviceMesh& mesh) {
  if (!def.partial_grad) return distribute_tensor(g, mesh, def.placements);
  const int64_t n = mesh.size();
  const auto noise = at::full_like(g, 0.25);
  const auto coord = *mesh.get_coordinate();
  const bool first = std::all_of(coord.begin(), coord.end(), [](int64_t c) { return c == 0; });
  return DTensor::from_local(first ? g - noise * (n - 1) : noise, mesh, Placements(mesh.ndim(), Partial()));
}

struct Model {
  std::vector<ParamDef> defs;
  std::vector<at::Tensor> ref, dt;  // plain reference parameters; DTensor parameters
};

Model make_model(const DeviceMesh& mesh) {
  Model m;
  m.defs = param_defs(mesh);
  at::manual_seed(1);
  for (const auto& d : m.defs) {
    auto init = at::randn(d.shape);
    m.ref.push_back(init.clone().set_requires_grad(true));
    m.dt.push_back(distribute_tensor(init, mesh, d.placements).set_requires_grad(true));
  }
  return m;
}

// Gradients of step `step`, the same on every rank.
void set_grads(Model& m, const DeviceMesh& mesh, int step, bool only_partial = false, bool skip_partial = false) {
  for (size_t i = 0; i < m.defs.size(); ++i) {
    if ((only_partial && !m.defs[i].partial_grad) || (skip_partial && m.defs[i].partial_grad)) {
      m.ref[i].mutable_grad() = at::Tensor();
      m.dt[i].mutable_grad() = at::Tensor();
      continue;
    }
    auto gen = at::make_generator<at::CPUGeneratorImpl>(100 * step + i);
    auto g = at::randn(m.defs[i].shape, gen);
    m.ref[i].mutable_grad() = g;
    m.dt[i].mutable_grad() = dtensor_grad(m.defs[i], g, mesh);
  }
}

// The state tensors of `p` in `opt` (undefined when absent).
std::vector<at::Tensor> state_of(optim::Optimizer& opt, const at::Tensor& p) {
  auto it = opt.state().find(c10::guts::to_string(p.unsafeGetTensorImpl()));
  if (it == opt.state().end()) return {};
  auto* s = it->second.get();
  if (auto* sgd = dynamic_cast<optim::SGDParamState*>(s)) return {sgd->momentum_buffer()};
  if (auto* adam = dynamic_cast<optim::AdamParamState*>(s))
    return {adam->exp_avg(), adam->exp_avg_sq(), adam->max_exp_avg_sq(), at::scalar_tensor(adam->step())};
  if (auto* adamw = dynamic_cast<optim::AdamWParamState*>(s))
    return {adamw->exp_avg(), adamw->exp_avg_sq(), adamw->max_exp_avg_sq(), at::scalar_tensor(adamw->step())};
  ADD_FAILURE() << "unknown optimizer state";
  return {};
}

at::Tensor whole(const at::Tensor& t) { return is_dtensor(t) ? DTensor(t).full_tensor() : t; }

using MakeOptimizer = std::function<std::unique_ptr<optim::Optimizer>(std::vector<at::Tensor>)>;
struct Config {
  const char* name;
  MakeOptimizer make;
};

std::vector<Config> configs() {
  auto sgd = [](optim::SGDOptions o) {
    return [o](std::vector<at::Tensor> p) { return std::make_unique<optim::SGD>(p, o); };
  };
  auto adam = [](optim::AdamOptions o) {
    return [o](std::vector<at::Tensor> p) { return std::make_unique<optim::Adam>(p, o); };
  };
  auto adamw = [](optim::AdamWOptions o) {
    return [o](std::vector<at::Tensor> p) { return std::make_unique<optim::AdamW>(p, o); };
  };
  return {
      {"SGD", sgd(optim::SGDOptions(0.1))},
      {"SGD momentum", sgd(optim::SGDOptions(0.1).momentum(0.9))},
      {"SGD momentum dampening weight_decay", sgd(optim::SGDOptions(0.1).momentum(0.5).dampening(0.3).weight_decay(0.1))},
      {"SGD nesterov weight_decay", sgd(optim::SGDOptions(0.05).momentum(0.9).nesterov(true).weight_decay(0.01))},
      {"Adam", adam(optim::AdamOptions(0.05))},
      {"Adam amsgrad weight_decay", adam(optim::AdamOptions(0.05).amsgrad(true).weight_decay(0.1))},
      {"AdamW", adamw(optim::AdamWOptions(0.05))},
      {"AdamW amsgrad weight_decay", adamw(optim::AdamWOptions(0.05).amsgrad(true).weight_decay(0.1))},
  };
}

void check_steps_match_reference(const DeviceMesh& mesh) {
  for (const auto& config : configs()) {
    SCOPED_TRACE(config.name);
    Model m = make_model(mesh);
    auto opt = config.make(m.dt);
    auto ref_opt = config.make(m.ref);
    for (int step = 1; step <= 4; ++step) {
      set_grads(m, mesh, step);
      opt->step();
      ref_opt->step();
      for (size_t i = 0; i < m.defs.size(); ++i) {
        SCOPED_TRACE(m.defs[i].name + " after step " + std::to_string(step));
        ASSERT_TRUE(is_dtensor(m.dt[i]));
        EXPECT_EQ(DTensor(m.dt[i]).placements(), m.defs[i].placements);
        EXPECT_TRUE(at::allclose(whole(m.dt[i]), m.ref[i].detach(), 1e-5, 1e-6))
            << (whole(m.dt[i]) - m.ref[i]).abs().max();
        const auto state = state_of(*opt, m.dt[i]), ref_state = state_of(*ref_opt, m.ref[i]);
        ASSERT_EQ(state.size(), ref_state.size());
        for (size_t k = 0; k < state.size(); ++k) {
          ASSERT_EQ(state[k].defined(), ref_state[k].defined()) << "state " << k;
          if (state[k].defined())
            EXPECT_TRUE(at::allclose(whole(state[k]), ref_state[k], 1e-5, 1e-6)) << "state " << k;
        }
      }
    }
  }
}

int64_t collectives_of_step(optim::Optimizer& opt) {
  debug::CommDebugMode comm;
  opt.step();
  return comm.get_total_counts();
}

}  // namespace

TEST(OptimSteps, MatchReferenceWorld2) {
  run_world(2, [](int) { check_steps_match_reference(init_device_mesh("cpu", {2})); });
}

TEST(OptimSteps, MatchReferenceWorld3) {
  run_world(3, [](int) { check_steps_match_reference(init_device_mesh("cpu", {3})); });
}

TEST(OptimSteps, MatchReferenceMesh2x2) {
  run_world(4, [](int) { check_steps_match_reference(init_device_mesh("cpu", {2, 2})); });
}

// Shard and Replicate parameters step locally; a Partial gradient is reduced where a whole value
// is needed. Adam(W) reads it in add_ (exp_avg) and addcmul_(g, g) (exp_avg_sq, one reduction
// for both operands): two all_reduces per step. SGD keeps the momentum buffer Partial (it is
// linear in the gradient) and reduces once when adding it to the Replicate parameter.
TEST(OptimSteps, Collectives) {
  run_world(2, [](int rank) {
    auto mesh = init_device_mesh("cpu", {2});
    const std::vector<std::pair<const char*, int64_t>> partial_expected{
        {"SGD", 1}, {"SGD momentum", 1}, {"SGD momentum dampening weight_decay", 1},
        {"SGD nesterov weight_decay", 1}, {"Adam", 2},
        {"Adam amsgrad weight_decay", 2}, {"AdamW", 2}, {"AdamW amsgrad weight_decay", 2}};
    for (const auto& config : configs()) {
      auto expected = std::find_if(partial_expected.begin(), partial_expected.end(),
                                   [&](const auto& e) { return std::string(e.first) == config.name; });
      ASSERT_NE(expected, partial_expected.end()) << config.name << ": no expected collective count";
      Model m = make_model(mesh);
      auto opt = config.make(m.dt);
      set_grads(m, mesh, 1);
      opt->step();  // state created
      set_grads(m, mesh, 2, /*only_partial=*/false, /*skip_partial=*/true);
      const int64_t local_params = collectives_of_step(*opt);
      set_grads(m, mesh, 3, /*only_partial=*/true);
      debug::CommDebugMode comm;
      opt->step();
      const auto counts = comm.get_comm_counts();
      EXPECT_EQ(local_params, 0) << config.name << ": Shard/Replicate parameters communicated";
      EXPECT_EQ(comm.get_total_counts(), expected->second) << config.name << " with a Partial gradient";
      EXPECT_EQ(counts.size(), 1u);
      EXPECT_EQ(counts.count("all_reduce"), 1u);
      if (rank == 0)
        std::printf("[optim] %s step: %lld collectives for Shard/Replicate params, %lld all_reduce for a "
                    "Partial-gradient param\n",
                    config.name, static_cast<long long>(local_params),
                    static_cast<long long>(comm.get_total_counts()));
    }
  });
}

// clip_grad_norm_ over sharded, replicated and Partial-gradient parameters: the global norm,
// and gradients scaled like the reference.
TEST(OptimClipGradNorm, GlobalNormAndClipping) {
  run_world(3, [](int) {
    auto mesh = init_device_mesh("cpu", {3});
    for (double norm_type : {2.0, 1.0, std::numeric_limits<double>::infinity()}) {
      SCOPED_TRACE("norm_type " + std::to_string(norm_type));
      Model m = make_model(mesh);
      set_grads(m, mesh, 7);
      const double ref_norm = torch::nn::utils::clip_grad_norm_(m.ref, 1e9, norm_type);  // only measures
      set_grads(m, mesh, 7);
      const double max_norm = ref_norm / 3;
      const double norm = torch::nn::utils::clip_grad_norm_(m.dt, max_norm, norm_type);
      const double ref_clipped = torch::nn::utils::clip_grad_norm_(m.ref, max_norm, norm_type);
      EXPECT_NEAR(norm, ref_clipped, 1e-5 * ref_clipped);
      EXPECT_NEAR(norm, ref_norm, 1e-5 * ref_norm);
      for (size_t i = 0; i < m.defs.size(); ++i) {
        ASSERT_TRUE(is_dtensor(m.dt[i].grad())) << m.defs[i].name;
        EXPECT_TRUE(at::allclose(whole(m.dt[i].grad()), m.ref[i].grad(), 1e-5, 1e-6)) << m.defs[i].name;
      }
    }
  });
}

// A training loop whose learning rate changes every step: after the first step every op hits
// the sharding cache (learning rates, bias corrections and clipping factors are not keys).
// Gradients are reset to undefined between steps (set-to-none), so each step runs the ops of the
// first one.
TEST(OptimShardingCache, LrScheduleDoesNotGrowTheCache) {
  run_world(2, [](int rank) {
    auto mesh = init_device_mesh("cpu", {2});
    at::manual_seed(3);
    auto w = distribute_tensor(at::randn({6, 4}), mesh, {Shard(0)}).set_requires_grad(true);
    auto b = distribute_tensor(at::randn({6}), mesh, {Shard(0)}).set_requires_grad(true);
    auto v = distribute_tensor(at::randn({4}), mesh, {Replicate()}).set_requires_grad(true);
    optim::AdamW opt({w, b, v}, optim::AdamWOptions(0.1).amsgrad(true));
    optim::StepLR schedule(opt, /*step_size=*/1, /*gamma=*/0.7);
    auto train_step = [&](int step) {
      auto gen = at::make_generator<at::CPUGeneratorImpl>(step);
      auto x = distribute_tensor(at::randn({3, 4}, gen), mesh, {Replicate()});
      auto y = torch::nn::functional::linear(x * v, w, b);
      y.pow(2).mean().backward();
      opt.step();
      schedule.step();
      for (auto* p : {&w, &b, &v}) p->mutable_grad() = at::Tensor();
    };
    ops::clear_sharding_cache();
    train_step(0);
    const auto after_first = ops::sharding_cache_stats();
    std::vector<double> lrs;
    for (int step = 1; step <= 5; ++step) {
      train_step(step);
      lrs.push_back(opt.param_groups()[0].options().get_lr());
    }
    const auto steady = ops::sharding_cache_stats();
    EXPECT_NE(lrs.front(), lrs.back());
    EXPECT_GT(after_first.entries, 0);
    EXPECT_EQ(steady.entries, after_first.entries) << "the cache grew after the first step";
    EXPECT_EQ(steady.misses, after_first.misses) << "steady-state steps missed the cache";
    const int64_t hits = steady.hits - after_first.hits;
    EXPECT_GT(hits, 5 * 10);
    if (rank == 0)
      std::printf("[optim] sharding cache: %lld entries after step 1; steps 2-6: %lld hits, %lld misses (%.0f%% hits)\n",
                  static_cast<long long>(after_first.entries), static_cast<long long>(hits),
                  static_cast<long long>(steady.misses - after_first.misses),
                  100.0 * hits / std::max<int64_t>(1, hits + steady.misses - after_first.misses));
  });
}
