// Layer normalisation: native_layer_norm and native_layer_norm_backward.
//
// native_layer_norm(input, normalized_shape, weight?, bias?, eps) -> (out, mean, rstd)
//   normalises over the trailing len(normalized_shape) dims (from `axis` on). Those dims are
//   gathered; shards of the outer (batch, sequence) dims stay, as every row is normalised on its
//   own; that is why SequenceParallel's norms need no communication. mean/rstd have the input's
//   rank (normalised dims of size 1) and the same placements. weight/bias are Replicate.
//   Partial inputs are reduced first (normalisation is not linear).
//
// native_layer_norm_backward(grad_out, input, normalized_shape, mean, rstd, weight?, bias?,
//                            output_mask) -> (grad_input, grad_weight, grad_bias)
//   grad_input is computed row by row: it keeps the input's outer shards.
//   grad_weight = sum over outer dims of grad_out * x_hat and grad_bias = sum of grad_out: where
//   an outer dim is sharded each rank sums its rows, so they are Partial(sum) on that mesh dim
//   (the SequenceParallel parameter gradients). All three are linear in grad_out: a
//   Partial(sum|avg) grad_out on a mesh dim where the input is Replicate passes through to
//   Partial outputs. Outputs not requested by output_mask are undefined.
//
// libtorch 1.13 has no meta kernels for these ops: the rules state the output metadata
// (contiguous; statistics in the input's dtype, as the CPU kernel makes them).
//
// RMSNorm is composite in libtorch 1.13 (pow, mean over the last dim, rsqrt, mul): it runs
// through the pointwise and reduction rules, which keep outer shards the same way.
#include "ops/common.h"

namespace dtensor::ops {
namespace {

// First normalised dim of input `input`, whose normalized_shape is argument `shape_arg`.
int64_t norm_axis(const OpCall& call, size_t input, size_t shape_arg) {
  const int64_t ndim = call.input(input).ndim();
  const auto normalized = call.arg(shape_arg).toIntVector();
  const int64_t n = static_cast<int64_t>(normalized.size());
  TORCH_CHECK_VALUE(n >= 1 && n <= ndim, "layer_norm: normalized_shape [", c10::Join(", ", normalized),
                    "] must name 1 to ", ndim, " trailing dims of the input");
  return ndim - n;
}

std::vector<OpStrategy> layer_norm_rule(const OpCall& call) {
  const auto& in = call.input(0);
  const int64_t axis = norm_axis(call, 0, 1);
  const Placements p = replicate_dims_from(in.placements(), axis);
  OpStrategy s;
  s.inputs.push_back(p);
  for (size_t k = 1; k < call.num_inputs(); ++k) s.inputs.push_back(replicate(call.mesh_ndim()));
  s.outputs.assign(3, p);
  std::vector<int64_t> stat_shape(in.shape().begin(), in.shape().begin() + axis);
  stat_shape.resize(in.shape().size(), 1);
  s.output_meta = std::vector<TensorMeta>{contiguous_meta(in.shape(), in.dtype()),
                                          contiguous_meta(stat_shape, in.dtype()),
                                          contiguous_meta(stat_shape, in.dtype())};
  return {s};
}

std::vector<OpStrategy> layer_norm_backward_rule(const OpCall& call) {
  // Inputs: grad_out, input, mean, rstd, then weight and bias when defined.
  const auto& grad = call.input(0);
  const auto& in = call.input(1);
  const int64_t axis = norm_axis(call, 1, 2);
  const Placements p = replicate_dims_from(in.placements(), axis);
  Placements grad_p = p, param_grad_p = p;
  for (size_t m = 0; m < p.size(); ++m) {
    const auto& g = grad.placements()[m];
    const bool partial_grad = p[m].is_replicate() && sum_like_partial(g);
    if (partial_grad) grad_p[m] = param_grad_p[m] = g;
    else if (p[m].is_shard()) param_grad_p[m] = Partial("sum");
  }
  OpStrategy s;
  s.inputs = {grad_p, p, p, p};
  for (size_t k = 4; k < call.num_inputs(); ++k) s.inputs.push_back(replicate(call.mesh_ndim()));

  const auto mask = call.arg(7).toBoolList();
  const int weight_input = call.input_of_arg(5), bias_input = call.input_of_arg(6);
  const std::vector<int64_t> param_shape(in.shape().begin() + axis, in.shape().end());
  auto param_meta = [&](int input) {
    return contiguous_meta(param_shape, input >= 0 ? call.input(input).dtype() : in.dtype());
  };
  s.outputs = {mask[0] ? std::optional<Placements>(grad_p) : std::nullopt,
               mask[1] ? std::optional<Placements>(param_grad_p) : std::nullopt,
               mask[2] ? std::optional<Placements>(param_grad_p) : std::nullopt};
  s.output_meta = std::vector<TensorMeta>{contiguous_meta(in.shape(), in.dtype()), param_meta(weight_input),
                                          param_meta(bias_input)};
  return {s};
}

}  // namespace

DTENSOR_RULES(norms) {
  register_rule("aten::native_layer_norm", layer_norm_rule, RuleOptions{std::vector<int>{1}});
  register_rule("aten::native_layer_norm_backward", layer_norm_backward_rule, RuleOptions{std::vector<int>{2, 7}});
}

}  // namespace dtensor::ops
