// Softmax and log-softmax, forward and backward.
//
//   _softmax / _log_softmax(self, dim, half_to_float)
//       every output element depends on its whole row along `dim`: that dim is gathered, the
//       other shards stay. Softmax is not linear, so Partial inputs are reduced first.
//   _softmax_backward_data / _log_softmax_backward_data(grad_output, output, dim, input_dtype)
//       grad_input = y * (g - sum(g * y, dim))   (softmax, y = output)
//       grad_input = g - exp(y) * sum(g, dim)     (log-softmax)
//       Both need `dim` whole and both operands laid out alike. They are linear in g for a fixed
//       y, so where y is Replicate on a mesh dim a Partial(sum|avg) g passes through and the
//       gradient is Partial too (no all_reduce in backward). Two candidates: follow the output's
//       layout or follow the gradient's; the dispatcher keeps the cheaper.
#include "ops/common.h"

namespace dtensor::ops {
namespace {

std::vector<OpStrategy> softmax_rule(const OpCall& call) {
  const auto& in = call.input(0);
  const int64_t dim = wrap_dim(call.int_arg(1), in.ndim());
  Placements p = without_partial(unshard_dims(in.placements(), {dim}));
  return {make_strategy({p}, p)};
}

std::vector<OpStrategy> softmax_backward_rule(const OpCall& call) {
  const auto& grad = call.input(0);
  const auto& out = call.input(1);
  const int64_t dim = wrap_dim(call.int_arg(2), out.ndim());
  std::vector<OpStrategy> strategies;
  for (const auto* leader : {&out, &grad}) {
    const Placements layout = without_partial(unshard_dims(leader->placements(), {dim}));
    Placements grad_p = layout;
    for (size_t m = 0; m < layout.size(); ++m)
      if (layout[m].is_replicate() && sum_like_partial(grad.placements()[m])) grad_p[m] = grad.placements()[m];
    OpStrategy s;
    s.inputs = {grad_p, layout};
    s.outputs.push_back(grad_p);
    strategies.push_back(std::move(s));
  }
  return strategies;
}

}  // namespace

DTENSOR_RULES(softmax) {
  register_rule({"aten::_softmax", "aten::_log_softmax"}, softmax_rule);
  register_rule({"aten::_softmax_backward_data", "aten::_log_softmax_backward_data"}, softmax_backward_rule);
}

}  // namespace dtensor::ops
