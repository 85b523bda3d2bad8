// Reductions over dims.
//
// A reduced dim that is sharded leaves each rank a partial result: the output is Partial(op)
// on that mesh dim, with op = sum for sum, avg for mean (only when the dim divides evenly,
// otherwise the local means are not comparable and the dim is gathered first), max/min for
// amax/amin. Kept dims keep their shards (renumbered when dims are dropped). A Partial input
// passes through reductions that are linear in it (sum/mean of P(sum|avg), amax of P(max),
// amin of P(min)); otherwise it is reduced first.
#include "ops/common.h"

namespace dtensor::ops {
namespace {

enum class Reduce { Sum, Mean, Max, Min };

std::vector<int64_t> reduced_dims(const OpCall& call, int64_t ndim) {
  std::vector<int64_t> dims;
  if (call.num_args() >= 2 && call.has_arg(1) && call.arg(1).isIntList()) {
    dims = call.int_list_arg(1);
  }
  if (dims.empty()) {
    for (int64_t d = 0; d < ndim; ++d) dims.push_back(d);
  }
  for (auto& d : dims) d = wrap_dim(d, ndim);
  return dims;
}

bool keepdim(const OpCall& call) {
  return call.num_args() >= 3 && call.arg(2).isBool() && call.arg(2).toBool();
}

bool passes_partial(Reduce r, comm::ReduceOp op) {
  switch (r) {
    case Reduce::Sum:
    case Reduce::Mean:
      return op == comm::ReduceOp::Sum || op == comm::ReduceOp::Avg;
    case Reduce::Max:
      return op == comm::ReduceOp::Max;
    case Reduce::Min:
      return op == comm::ReduceOp::Min;
  }
  return false;
}

std::vector<OpStrategy> reduction(const OpCall& call, Reduce r) {
  const auto& in = call.input(0);
  const auto dims = reduced_dims(call, in.ndim());
  const bool keep = keepdim(call);
  Placements in_p = in.placements(), out_p = in.placements();
  for (size_t m = 0; m < in_p.size(); ++m) {
    const auto& p = in_p[m];
    if (p.is_partial()) {
      if (!passes_partial(r, p.reduce_op())) in_p[m] = out_p[m] = Replicate{};
      continue;
    }
    if (!p.is_shard()) continue;
    const int64_t d = p.shard_dim();
    if (std::find(dims.begin(), dims.end(), d) == dims.end()) {
      int64_t shift = 0;
      for (int64_t x : dims) shift += !keep && x < d;
      out_p[m] = Shard(d - shift);
      continue;
    }
    switch (r) {
      case Reduce::Sum:
        out_p[m] = Partial("sum");
        break;
      case Reduce::Mean:
        if (in.shape()[d] % shards_of_dim(in_p, d, in.mesh()) == 0) out_p[m] = Partial("avg");
        else in_p[m] = out_p[m] = Replicate{};
        break;
      case Reduce::Max:
        out_p[m] = Partial("max");
        break;
      case Reduce::Min:
        out_p[m] = Partial("min");
        break;
    }
  }
  OpStrategy s;
  s.inputs.push_back(in_p);
  s.outputs.push_back(out_p);
  return {s};
}

}  // namespace

DTENSOR_RULES(reductions) {
  register_rule({"aten::sum", "aten::sum.dim_IntList"}, [](const OpCall& c) { return reduction(c, Reduce::Sum); });
  register_rule({"aten::mean", "aten::mean.dim"}, [](const OpCall& c) { return reduction(c, Reduce::Mean); });
  register_rule("aten::amax", [](const OpCall& c) { return reduction(c, Reduce::Max); });
  register_rule("aten::amin", [](const OpCall& c) { return reduction(c, Reduce::Min); });
}

}  // namespace dtensor::ops
