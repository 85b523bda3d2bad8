#include "harness/op_check.h"

#include <cstdio>

#include <gtest/gtest.h>

#include <dtensor/runtime.h>
#include <dtensor/tensor.h>

#include "harness/layout.h"

namespace dtensor::testing {
namespace {

std::vector<Placement> options_for(const at::Tensor& t, bool partial) {
  std::vector<Placement> o{Replicate{}};
  for (int64_t d = 0; d < t.dim(); ++d) o.push_back(Shard(d));
  if (partial && at::isFloatingType(t.scalar_type())) o.push_back(Partial("sum"));
  return o;
}

// Partial(sum) DTensor whose summands add up to `full`: random on every rank but the first.
at::Tensor make_partial(const at::Tensor& full, const DeviceMesh& mesh, const Placements& p,
                        int64_t salt) {
  auto coord = *mesh.get_coordinate();
  // Summands: rank-dependent noise that cancels over each Partial mesh dim.
  at::Tensor local = full.clone();
  for (size_t m = 0; m < p.size(); ++m) {
    if (!p[m].is_partial()) continue;
    const int64_t n = mesh.size(static_cast<int64_t>(m));
    auto gen = at::make_generator<at::CPUGeneratorImpl>(1000 + salt * 31 + m);
    auto noise = at::randn(full.sizes(), gen, full.options());
    // Coordinate 0 keeps value - (n-1)*noise, the others hold noise: the sum is the value.
    local = coord[m] == 0 ? local - noise * (n - 1) : noise;
  }
  return local;
}

at::Tensor distribute_input(const at::Tensor& full, const DeviceMesh& mesh, const Placements& p,
                            bool requires_grad, int64_t salt) {
  bool has_partial = false;
  for (const auto& x : p) has_partial = has_partial || x.is_partial();
  if (!has_partial) {
    auto d = distribute_tensor(full, mesh, p, /*src_data_rank=*/std::nullopt);
    if (requires_grad) d.set_requires_grad(true);
    return d;
  }
  // Shard the non-partial dims of the summand by slicing (Partial never coexists with Shard of
  // the same data in the options we generate for a 1-D mesh; on 2-D meshes, shard after).
  Placements replicated_partial = p;
  for (auto& x : replicated_partial)
    if (x.is_shard()) x = Replicate{};
  auto summand = make_partial(full, mesh, p, salt);
  auto d = DTensor::from_local(summand, mesh, replicated_partial);
  if (replicated_partial != p) {
    // Redistribute the sharded mesh dims (R -> S is local) without touching the Partial ones.
    d = d.redistribute(p);
  }
  // A leaf DTensor (its local needs no grad), so the gradient lands in .grad() as a DTensor.
  auto leaf = DTensor::from_local(d.to_local().detach(), mesh, p,
                                  FromLocalOptions{false, full.sizes().vec(), full.strides().vec()});
  if (requires_grad) leaf.set_requires_grad(true);
  return leaf;
}

std::string describe(const std::vector<Placements>& ps) {
  std::string s;
  for (size_t i = 0; i < ps.size(); ++i) s += (i ? ", " : "") + to_string(ps[i]);
  return s;
}

}  // namespace

int64_t check_op(const OpCase& c, const DeviceMesh& mesh) {
  // Reference on plain tensors.
  std::vector<at::Tensor> ref_inputs;
  for (const auto& t : c.inputs) {
    auto x = t.clone();
    if (c.check_grads && at::isFloatingType(t.scalar_type())) x.requires_grad_(true);
    ref_inputs.push_back(x);
  }
  auto ref_out = c.fn(ref_inputs);
  std::vector<at::Tensor> upstream;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
  at::Tensor ref_loss;
  for (const auto& o : ref_out) {
    upstream.push_back(o.defined() && at::isFloatingType(o.scalar_type()) ? at::randn(o.sizes(), gen, o.options()) : at::Tensor());
    if (upstream.back().defined() && o.requires_grad()) {
      auto term = (o * upstream.back()).sum();
      ref_loss = ref_loss.defined() ? ref_loss + term : term;
    }
  }
  const bool grads = c.check_grads && ref_loss.defined();
  if (grads) ref_loss.backward();

  // Placement combinations: per input, per mesh dim.
  std::vector<std::vector<Placements>> per_input;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    std::vector<Placement> opts = std::find(c.replicated_only.begin(), c.replicated_only.end(), i) != c.replicated_only.end()
                                      ? std::vector<Placement>{Replicate{}}
                                      : options_for(c.inputs[i], c.allow_partial_inputs);
    per_input.push_back(every_layout(opts, mesh));
  }
  auto cases = cartesian_product(per_input);
  if (cases.size() > c.max_cases) {
    // Deterministic sample, the same on every rank; the all-replicated case always included.
    std::vector<std::vector<Placements>> sample{cases.front()};
    const size_t stride = cases.size() / c.max_cases + 1;
    for (size_t i = 1 + (cases.size() % stride); i < cases.size() && sample.size() < c.max_cases; i += stride)
      sample.push_back(cases[i]);
    cases = sample;
  }

  int64_t checked = 0;
  for (const auto& placements : cases) {
    SCOPED_TRACE(c.name + " with input placements " + describe(placements));
    std::vector<at::Tensor> inputs;
    for (size_t i = 0; i < c.inputs.size(); ++i) {
      const bool rg = grads && ref_inputs[i].requires_grad();
      inputs.push_back(distribute_input(c.inputs[i], mesh, placements[i], rg, static_cast<int64_t>(i)));
    }
    std::vector<at::Tensor> out;
    const bool must_raise = c.raises && c.raises(placements, mesh);
    try {
      out = c.fn(inputs);
    } catch (const c10::Error& e) {
      if (must_raise) ++checked;
      else ADD_FAILURE() << "op threw: " << e.what();
      continue;
    }
    if (must_raise) {
      ADD_FAILURE() << "op was expected to raise for these placements";
      continue;
    }
    EXPECT_EQ(out.size(), ref_out.size());
    at::Tensor loss;
    for (size_t j = 0; j < std::min(out.size(), ref_out.size()); ++j) {
      if (!ref_out[j].defined()) continue;
      if (!is_dtensor(out[j])) {
        ADD_FAILURE() << "output " << j << " is not a DTensor";
        continue;
      }
      auto full = DTensor(out[j]).full_tensor();
      EXPECT_EQ(full.sizes(), ref_out[j].sizes()) << "output " << j;
      EXPECT_EQ(full.scalar_type(), ref_out[j].scalar_type()) << "output " << j;
      if (full.sizes() == ref_out[j].sizes()) {
        EXPECT_TRUE(at::allclose(full.to(at::kDouble), ref_out[j].detach().to(at::kDouble), c.rtol, c.atol))
            << "output " << j << " differs; max abs diff "
            << (full.to(at::kDouble) - ref_out[j].detach().to(at::kDouble)).abs().max().item<double>();
      }
      if (grads && upstream[j].defined() && full.requires_grad()) {
        auto term = (full * upstream[j]).sum();
        loss = loss.defined() ? loss + term : term;
      }
    }
    if (grads && loss.defined()) {
      loss.backward();
      for (size_t i = 0; i < inputs.size(); ++i) {
        if (!ref_inputs[i].requires_grad() || !ref_inputs[i].grad().defined()) continue;
        auto g = inputs[i].grad();
        if (!g.defined()) {
          ADD_FAILURE() << "input " << i << " got no gradient";
          continue;
        }
        auto full_g = DTensor(g).full_tensor();
        EXPECT_TRUE(at::allclose(full_g.to(at::kDouble), ref_inputs[i].grad().to(at::kDouble), c.rtol, c.atol))
            << "gradient of input " << i << " differs; max abs diff "
            << (full_g.to(at::kDouble) - ref_inputs[i].grad().to(at::kDouble)).abs().max().item<double>();
      }
    }
    ++checked;
  }
  return checked;
}

void report_op_cases(const std::string& family, int64_t cases) {
  if (get_rank() != 0) return;
  std::printf("[op_check] %s: %lld (op, placement) cases checked\n", family.c_str(),
              static_cast<long long>(cases));
  std::fflush(stdout);
}

}  // namespace dtensor::testing
