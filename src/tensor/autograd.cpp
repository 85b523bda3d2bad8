#include "tensor/autograd.h"

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/utils.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "redistribute/redistribute.h"
#include "tensor/dtensor_impl.h"

namespace dtensor::detail {
namespace {

using torch::autograd::variable_list;

bool records_grad(const at::Tensor& input) {
  return torch::autograd::GradMode::is_enabled() && input.requires_grad();
}

template <class NodeT, class... Args>
void connect(const at::Tensor& input, at::Tensor& output, Args&&... args) {
  auto node = std::shared_ptr<NodeT>(new NodeT(std::forward<Args>(args)...),
                                     torch::autograd::deleteNode);
  node->set_next_edges(torch::autograd::collect_next_edges(input));
  torch::autograd::set_history(output, node);
}

const DTensorImpl& as_dtensor(const at::Tensor& grad, const char* where) {
  auto* impl = dtensor_impl(grad);
  TORCH_CHECK(impl != nullptr, where, ": expected a DTensor gradient, got a plain tensor of shape ",
              grad.sizes());
  return *impl;
}

// Backward redistributions wait the way forward ones do: issue, then Pending::wait, which on MPI
// spins ~50 us, then yields the core, then sleeps (ProcessGroupMPI). A blocking MPI call instead busy-polls inside Open MPI for as long
// as the peer is still computing its part of the backward pass; when ranks share cores that
// spinning takes CPU from the very peer it waits for (bench/README.md, step time vs `async`).
at::Tensor redistribute_grad(const at::Tensor& local, const DTensorSpec& from,
                             const DTensorSpec& to) {
  if (auto pending = redistribute_local_async(local, from, to)) return pending->wait();
  return redistribute_local(local, from, to);
}

// Gradient placement for a forward placement `fwd` given the gradient's placement `grad`:
// Partial forward inputs receive Replicate (or stay Partial), never a reduction.
Placements backward_targets(const Placements& fwd, const Placements& grad) {
  Placements out = fwd;
  for (size_t m = 0; m < fwd.size(); ++m)
    if (fwd[m].is_partial()) out[m] = grad[m].is_partial() ? grad[m] : Placement(Replicate{});
  return out;
}

struct FromLocalBackward : torch::autograd::Node {
  FromLocalBackward(SpecPtr spec, const at::Tensor& input)
      : spec(std::move(spec)), input_sizes(input.sizes().vec()), input_options(input.options()) {}
  std::string name() const override { return "dtensor::FromLocalBackward"; }
  variable_list apply(variable_list&& grads) override {
    if (!grads[0].defined()) return {at::Tensor()};
    // A rank outside the mesh wrapped an empty shard: its local tensor took no part.
    if (!spec->mesh().contains_this_rank()) return {at::zeros(input_sizes, input_options)};
    const auto& g = as_dtensor(grads[0], "from_local backward");
    auto target = g.spec()->with_placements(backward_targets(spec->placements(), g.spec()->placements()));
    return {redistribute_grad(g.local(), *g.spec(), *target)};
  }
  SpecPtr spec;
  std::vector<int64_t> input_sizes;
  at::TensorOptions input_options;
};

struct ToLocalBackward : torch::autograd::Node {
  explicit ToLocalBackward(SpecPtr spec) : spec(std::move(spec)) {}
  std::string name() const override { return "dtensor::ToLocalBackward"; }
  variable_list apply(variable_list&& grads) override {
    const auto& g = grads[0];
    if (!g.defined()) return {at::Tensor()};
    // (Outside the mesh the shard is empty and so is its gradient.)
    TORCH_CHECK(!spec->mesh().contains_this_rank() || g.sizes() == spec->local_shape(),
                "to_local backward: the gradient has shape ", g.sizes(), " but the local shard of ",
                *spec, " has shape ", c10::IntArrayRef(spec->local_shape()));
    TensorMeta meta = spec->meta();
    meta.dtype = g.scalar_type();
    return {make_dtensor(g.detach(), spec->with_meta(meta))};
  }
  SpecPtr spec;
};

struct RedistributeBackward : torch::autograd::Node {
  explicit RedistributeBackward(SpecPtr input_spec) : input_spec(std::move(input_spec)) {}
  std::string name() const override { return "dtensor::RedistributeBackward"; }
  variable_list apply(variable_list&& grads) override {
    if (!grads[0].defined()) return {at::Tensor()};
    const auto& g = as_dtensor(grads[0], "redistribute backward");
    auto target = g.spec()->with_placements(
        backward_targets(input_spec->placements(), g.spec()->placements()));
    if (target == g.spec()) return {grads[0]};
    return {make_dtensor(redistribute_grad(g.local(), *g.spec(), *target), target)};
  }
  SpecPtr input_spec;
};

}  // namespace

at::Tensor from_local_differentiable(const at::Tensor& input, const at::Tensor& local,
                                     SpecPtr spec) {
  auto out = make_dtensor(local.detach(), std::move(spec));
  if (records_grad(input)) {
    connect<FromLocalBackward>(input, out, dtensor_impl(out)->spec(), input);
  }
  return out;
}

at::Tensor to_local_differentiable(const at::Tensor& dtensor, SpecPtr grad_spec) {
  const auto& local = dtensor_impl(dtensor)->local();
  if (!records_grad(dtensor)) return local;
  // A new tensor object sharing the shard's storage: autograd history must not attach to the
  // shard the DTensor keeps.
  auto out = local.detach();
  connect<ToLocalBackward>(dtensor, out, std::move(grad_spec));
  return out;
}

at::Tensor redistribute_differentiable(const at::Tensor& dtensor, SpecPtr target, bool async_op) {
  auto* impl = dtensor_impl(dtensor);
  const SpecPtr& from = impl->spec();
  at::Tensor out;
  if (target == from) {
    out = make_dtensor(impl->local(), target);
  } else if (auto pending = async_op ? redistribute_local_async(impl->local(), *from, *target)
                                     : std::nullopt) {
    out = make_dtensor(at::empty({0}, impl->local().options()), target);
    dtensor_impl(out)->set_pending(std::move(*pending));
  } else {
    out = make_dtensor(redistribute_local(impl->local(), *from, *target), target);
  }
  if (records_grad(dtensor)) connect<RedistributeBackward>(dtensor, out, from);
  return out;
}

}  // namespace dtensor::detail
