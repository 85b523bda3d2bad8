// Negative log-likelihood loss: nll_loss(2d)_forward and nll_loss(2d)_backward (cross_entropy is
// log_softmax + nll_loss in libtorch too). These are the rules outside loss_parallel.
//
// input [N, C, ...] (or [C]) holds log-probabilities; the class dim C (dim 1, or 0 for a 1-D
// input) is gathered: a row's loss reads one entry of it. target [N, ...] is the input without
// the class dim and follows the input's remaining shards; weight [C] is Replicate. Partial
// inputs are reduced first. Two candidate layouts: the input's (class dim gathered) and the
// target's; the dispatcher keeps the cheaper.
//   reduction none   output laid out as the target; total_weight (0) Replicate.
//   reduction sum    each rank sums its rows: output and total_weight Partial(sum) on the mesh
//                    dims that shard the target.
//   reduction mean   sum_i w[t_i] * -x[i, t_i] / sum_i w[t_i] over non-ignored rows. The divisor
//                    depends on every row's target, so a local mean is not a summand of the
//                    global one (ranks ignore or weigh different numbers of rows). When rows are
//                    sharded the target is gathered instead (it is small: no class dim); each
//                    rank divides its local sum by the global total weight, which gives an exact
//                    Partial(sum) output and a Replicate total_weight. An input whose rows split
//                    unevenly raises ValueError, as in PyTorch (whose Partial(avg) of local means
//                    needs equal pieces); the division above would be exact there too, the error
//                    is kept for parity.
// Backward: grad_input = -w[t_i] * grad (/ total_weight for mean) at column t_i, row by row: it
// takes the input's layout (class dim gathered) and the target's; grad_output is laid out as the
// target for `none` and Replicate otherwise; total_weight is Replicate for mean (it divides) and
// left as it is otherwise (the kernel does not read it).
//
// The 2d variants have no meta kernel in libtorch 1.13: the rules state the output metadata.
#include <ATen/ATen.h>

#include "ops/common.h"

namespace dtensor::ops {
namespace {

constexpr int64_t kReductionNone = 0, kReductionMean = 1, kReductionSum = 2;

struct Layout {
  Placements input;
  Placements target;
};

bool any_shard(const Placements& p) {
  return std::any_of(p.begin(), p.end(), [](const Placement& x) { return x.is_shard(); });
}

// Candidate layouts: the input's with the class dim gathered, and the one the target implies.
std::vector<Layout> candidate_layouts(const DTensorSpec& input, const DTensorSpec& target, int64_t channel) {
  std::vector<Layout> layouts;
  Placements from_input = without_partial(unshard_dims(input.placements(), {channel}));
  layouts.push_back({from_input, skip_dim(from_input, channel)});
  Placements from_target = without_partial(target.placements()), input_p = from_target;
  for (auto& x : input_p)
    if (x.is_shard() && x.shard_dim() >= channel) x = Shard(x.shard_dim() + 1);
  if (input_p != from_input) layouts.push_back({input_p, from_target});
  return layouts;
}

// Sum of w[t] over the targets that are not ignored (their count without weights).
at::Tensor total_weight(const at::Tensor& target, const c10::IValue& weight, int64_t ignore_index,
                        at::ScalarType dtype) {
  const auto valid = target != ignore_index;
  if (weight.isNone() || !weight.toTensor().defined()) return valid.sum().to(dtype);
  const auto& w = weight.toTensor();
  const auto picked = w.index_select(0, target.masked_fill(~valid, 0).flatten()).view(target.sizes());
  return at::where(valid, picked, at::zeros({}, w.options())).sum().to(dtype);
}

// Mean over sharded rows: the local sum over this rank's rows divided by the global total weight
// (from the gathered target). Arguments: self, target (whole), weight, reduction, ignore_index.
LocalFn mean_over_rows(std::vector<int64_t> target_shape, std::vector<int64_t> target_offset) {
  return [=](const c10::OperatorHandle& op, torch::jit::Stack& stack) {
    const size_t base = stack.size() - op.schema().arguments().size();
    const at::Tensor self = stack[base].toTensor();
    const at::Tensor target = stack[base + 1].toTensor();
    at::Tensor local_target = target;
    for (size_t d = 0; d < target_shape.size(); ++d)
      local_target = local_target.narrow(static_cast<int64_t>(d), target_offset[d], target_shape[d]);
    const auto total = total_weight(target, stack[base + 2], stack[base + 4].toInt(), self.scalar_type());
    stack[base + 1] = local_target;
    stack[base + 3] = kReductionSum;
    op.callBoxed(&stack);
    const at::Tensor local_sum = stack[stack.size() - 2].toTensor();
    torch::jit::drop(stack, 2);
    stack.emplace_back(local_sum / total);
    stack.emplace_back(total);
  };
}

std::vector<OpStrategy> nll_forward_rule(const OpCall& call) {
  const auto& input = call.input(0);
  const auto& target = call.input(1);
  const int64_t channel = input.ndim() >= 2 ? 1 : 0;
  const int64_t reduction = call.int_arg(3);
  const auto mesh_ndim = call.mesh_ndim();
  const TensorMeta scalar = contiguous_meta({}, input.dtype());
  std::vector<OpStrategy> strategies;
  const auto layouts = candidate_layouts(input, target, channel);
  for (const auto& layout : layouts) {
    const bool rows_sharded = any_shard(layout.target);
    if (reduction == kReductionMean && rows_sharded && !evenly_sharded(layout.target, target.shape(), call.mesh())) {
      // The input's own layout raises (PyTorch's check); the target-led alternative is dropped.
      TORCH_CHECK_VALUE(&layout != &layouts.front(),
                        "The intermediate results of nll_loss cannot be evenly sharded, resulting in biased "
                        "mean result. (input ", to_string(input.placements()), " of shape [",
                        c10::Join(", ", input.shape()), "]: its rows split unevenly; replicate them or use "
                        "reduction='sum')");
      continue;
    }
    OpStrategy s;
    s.inputs = {layout.input, layout.target};
    if (call.num_inputs() == 3) s.inputs.push_back(replicate(mesh_ndim));
    Placements summed = replicate(mesh_ndim);
    for (size_t m = 0; m < summed.size(); ++m)
      if (layout.target[m].is_shard()) summed[m] = Partial("sum");
    if (reduction == kReductionNone) {
      s.outputs = {layout.target, replicate(mesh_ndim)};
    } else if (reduction == kReductionSum || !rows_sharded) {
      s.outputs = {summed, summed};
    } else {
      s.inputs[1] = replicate(mesh_ndim);
      auto [shape, offset] = local_piece(call.mesh(), layout.target, target.shape());
      s.local = mean_over_rows(shape, offset);
      s.outputs = {summed, replicate(mesh_ndim)};
    }
    s.output_meta = std::vector<TensorMeta>{
        reduction == kReductionNone ? contiguous_meta(target.shape(), input.dtype()) : scalar, scalar};
    strategies.push_back(std::move(s));
  }
  return strategies;
}

std::vector<OpStrategy> nll_backward_rule(const OpCall& call) {
  // Inputs: grad_output, self, target, weight (when given), total_weight.
  const auto& input = call.input(1);
  const auto& target = call.input(2);
  const auto& total = call.input(call.num_inputs() - 1);
  const int64_t channel = input.ndim() >= 2 ? 1 : 0;
  const int64_t reduction = call.int_arg(4);
  const auto mesh_ndim = call.mesh_ndim();
  std::vector<OpStrategy> strategies;
  for (const auto& layout : candidate_layouts(input, target, channel)) {
    OpStrategy s;
    s.inputs = {reduction == kReductionNone ? layout.target : replicate(mesh_ndim), layout.input, layout.target};
    if (call.num_inputs() == 5) s.inputs.push_back(replicate(mesh_ndim));
    s.inputs.push_back(reduction == kReductionMean ? replicate(mesh_ndim) : total.placements());
    s.outputs = {layout.input};
    s.output_meta = std::vector<TensorMeta>{contiguous_meta(input.shape(), input.dtype())};
    strategies.push_back(std::move(s));
  }
  return strategies;
}

}  // namespace

DTENSOR_RULES(loss) {
  register_rule({"aten::nll_loss_forward", "aten::nll_loss2d_forward"}, nll_forward_rule,
                RuleOptions{std::vector<int>{3}});
  register_rule({"aten::nll_loss_backward", "aten::nll_loss2d_backward"}, nll_backward_rule,
                RuleOptions{std::vector<int>{4}});
}

}  // namespace dtensor::ops
