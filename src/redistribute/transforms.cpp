// One function per (from, to) placement transition on one mesh dim, and the plan runner.
//
// Notation for a step on mesh dim m of size n where this rank has coordinate c: L is the tensor
// shape this mesh dim splits (the global shape after the shards of outer mesh dims), full =
// ceil(L[d] / n). Collectives need equal pieces, so shards are zero-padded to `full` along d
// before and unpadded after. Because torch.chunk pieces are all full except trailing ones, the
// real data of a padded gather is exactly its first L[d] rows.
//
//   S(d) -> R     pad, all_gather along d, keep the first L[d] rows
//   P    -> R     all_reduce(op)
//   P    -> S(d)  pad to full*n, reduce_scatter along d, keep this rank's rows
//   R    -> S(d)  local chunk c (a copy: the result must not alias the replicated input)
//   S(i) -> S(j)  pad i to full_i and j to full_j*n, all_to_all (split j, concat i), unpad
//   R    -> P     sum/product: coordinate 0 keeps the value, the others hold the identity
//                 (exact, unlike dividing by n); avg/max/min: unchanged
#include "redistribute/redistribute.h"

#include <c10/util/irange.h>

#include "util/log.h"

namespace dtensor::detail {
namespace {

struct StepContext {
  comm::Group group;
  int64_t n;
  int64_t coord;
  std::vector<int64_t> logical;  // shape split by this mesh dim
  bool async;
};

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

at::Tensor pad_dim(const at::Tensor& t, int64_t dim, int64_t size) {
  const int64_t extra = size - t.size(dim);
  if (extra == 0) return t;
  if (t.numel() == 0) {
    // constant_pad_nd rejects a tensor with an empty dim besides the padded one (an empty shard
    // of another dim, e.g. torch.chunk's trailing pieces): the padded tensor is all zeros.
    auto shape = t.sizes().vec();
    shape[dim] = size;
    return at::zeros(shape, t.options());
  }
  std::vector<int64_t> pad(2 * (t.dim() - dim), 0);
  pad[pad.size() - 1] = extra;  // constant_pad_nd lists (before, after) pairs from the last dim
  return at::constant_pad_nd(t, pad, 0);
}

// Runs `post` on the collective's result, now or when an async collective is waited on.
template <class Sync, class Async, class Post>
comm::Pending collective(const StepContext& ctx, Sync&& sync, Async&& async, Post post) {
  if (!ctx.async) return comm::Pending(post(sync()));
  auto pending = async();
  return comm::Pending(c10::intrusive_ptr<c10d::Work>(),
                       [pending, post]() mutable { return post(pending.wait()); });
}

comm::Pending shard_to_replicate(const at::Tensor& local, const TransformStep& s,
                                 const StepContext& ctx) {
  const int64_t d = s.from.shard_dim(), L = ctx.logical[d];
  auto x = pad_dim(local, d, ceil_div(L, ctx.n));
  auto post = [d, L](const at::Tensor& g) { return g.size(d) == L ? g : g.narrow(d, 0, L).contiguous(); };
  return collective(
      ctx, [&] { return comm::all_gather(x, d, ctx.group); },
      [&] { return comm::all_gather_async(x, d, ctx.group); }, post);
}

comm::Pending partial_to_replicate(const at::Tensor& local, const TransformStep& s,
                                   const StepContext& ctx) {
  const auto op = s.from.reduce_op();
  return collective(
      ctx, [&] { return comm::all_reduce(local, op, ctx.group); },
      [&] { return comm::all_reduce_async(local, op, ctx.group); },
      [](const at::Tensor& t) { return t; });
}

comm::Pending partial_to_shard(const at::Tensor& local, const TransformStep& s,
                               const StepContext& ctx) {
  const int64_t d = s.to.shard_dim(), L = ctx.logical[d];
  const int64_t mine = local_shard_size_and_offset(L, ctx.n, ctx.coord).first;
  auto x = pad_dim(local, d, ceil_div(L, ctx.n) * ctx.n);
  const auto op = s.from.reduce_op();
  auto post = [d, mine](const at::Tensor& r) { return r.size(d) == mine ? r : r.narrow(d, 0, mine).contiguous(); };
  return collective(
      ctx, [&] { return comm::reduce_scatter(x, d, op, ctx.group); },
      [&] { return comm::reduce_scatter_async(x, d, op, ctx.group); }, post);
}

comm::Pending shard_to_shard(const at::Tensor& local, const TransformStep& s,
                             const StepContext& ctx) {
  const int64_t i = s.from.shard_dim(), j = s.to.shard_dim();
  const int64_t Li = ctx.logical[i], Lj = ctx.logical[j];
  const int64_t mine_j = local_shard_size_and_offset(Lj, ctx.n, ctx.coord).first;
  auto x = pad_dim(pad_dim(local, i, ceil_div(Li, ctx.n)), j, ceil_div(Lj, ctx.n) * ctx.n);
  auto post = [i, j, Li, mine_j](const at::Tensor& y) {
    auto out = y.size(i) == Li ? y : y.narrow(i, 0, Li);
    out = out.size(j) == mine_j ? out : out.narrow(j, 0, mine_j);
    return out.contiguous();
  };
  return collective(
      ctx, [&] { return comm::all_to_all(x, j, i, ctx.group); },
      [&] { return comm::all_to_all_async(x, j, i, ctx.group); }, post);
}

comm::Pending replicate_to_shard(const at::Tensor& local, const TransformStep& s,
                                 const StepContext& ctx) {
  const int64_t d = s.to.shard_dim();
  auto [size, offset] = local_shard_size_and_offset(ctx.logical[d], ctx.n, ctx.coord);
  if (size == 0) offset = 0;
  return comm::Pending(local.narrow(d, offset, size).clone(at::MemoryFormat::Contiguous));
}

comm::Pending replicate_to_partial(const at::Tensor& local, const TransformStep& s,
                                   const StepContext& ctx) {
  const auto op = s.to.reduce_op();
  if (ctx.coord == 0 ||
      (op != comm::ReduceOp::Sum && op != comm::ReduceOp::Product)) {
    return comm::Pending(local);
  }
  return comm::Pending(op == comm::ReduceOp::Sum ? at::zeros_like(local) : at::ones_like(local));
}

using TransformFn = comm::Pending (*)(const at::Tensor&, const TransformStep&, const StepContext&);

TransformFn transform_for(const Placement& from, const Placement& to) {
  using K = Placement::Kind;
  switch (from.kind()) {
    case K::Shard:
      if (to.is_replicate()) return &shard_to_replicate;
      if (to.is_shard()) return &shard_to_shard;
      break;
    case K::Partial:
      if (to.is_replicate()) return &partial_to_replicate;
      if (to.is_shard()) return &partial_to_shard;
      break;
    case K::Replicate:
      if (to.is_shard()) return &replicate_to_shard;
      if (to.is_partial()) return &replicate_to_partial;
      break;
  }
  return nullptr;
}

// Shape split by mesh dim `mesh_dim` under the current placements of the outer mesh dims.
std::vector<int64_t> logical_shape(const DTensorSpec& spec, const Placements& current,
                                   int64_t mesh_dim, const std::vector<int64_t>& coord) {
  std::vector<int64_t> shape = spec.shape();
  for (int64_t m = 0; m < mesh_dim; ++m) {
    if (!current[m].is_shard()) continue;
    const int64_t d = current[m].shard_dim();
    shape[d] = local_shard_size_and_offset(shape[d], spec.mesh().size(m), coord[m]).first;
  }
  return shape;
}

bool feasible(const Placement& from, const Placement& to) {
  return from == to || transform_for(from, to) != nullptr;
}

void check_transition(const Placement& from, const Placement& to) {
  if (feasible(from, to)) return;
  TORCH_CHECK(!(from.is_partial() && to.is_partial()), "Can not redistribute from ", from.str(),
              " to ", to.str(), ", redistributing to Partial is for internal use only!");
  TORCH_CHECK(false, "redistribute from ", from.str(), " to ", to.str(), " not supported yet");
}

StepContext context_for(const DTensorSpec& spec, const Placements& current,
                        const TransformStep& step, const std::vector<int64_t>& coord,
                        bool async) {
  return StepContext{spec.mesh().get_group(step.mesh_dim), spec.mesh().size(step.mesh_dim),
                     coord[step.mesh_dim], logical_shape(spec, current, step.mesh_dim, coord),
                     async};
}

}  // namespace

std::vector<TransformStep> plan_redistribute(const DTensorSpec& from, const Placements& to) {
  const auto& src = from.placements();
  TORCH_INTERNAL_ASSERT(src.size() == to.size(), "placements of different mesh ranks");
  const int64_t ndim = static_cast<int64_t>(src.size());
  std::vector<TransformStep> steps;
  Placements current = src;
  auto step = [&](int64_t m, const Placement& target) {
    check_transition(current[m], target);
    steps.push_back({m, current[m], target});
    current[m] = target;
  };
  bool has_shard = false;
  for (const auto& p : src) has_shard = has_shard || p.is_shard();
  if (ndim > 1 && has_shard) {
    // Inner -> outer: a target Shard(d) whose outer mesh dims shard d differently (nested or
    // misaligned sharding) first goes through Replicate.
    for (int64_t m = ndim - 1; m >= 0; --m) {
      Placement target = to[m];
      if (target.is_shard()) {
        const int64_t d = target.shard_dim();
        bool aligned = true;
        for (int64_t o = 0; o < m; ++o) aligned = aligned && (current[o].is_shard(d) == to[o].is_shard(d));
        if (!aligned) target = Replicate{};
      }
      if (current[m] != target) step(m, target);
    }
  }
  for (int64_t m = 0; m < ndim; ++m)
    if (current[m] != to[m]) step(m, to[m]);
  return steps;
}

at::Tensor redistribute_local(const at::Tensor& local, const DTensorSpec& from,
                              const DTensorSpec& to) {
  TORCH_INTERNAL_ASSERT(from.shape() == to.shape(), "redistribute changes only placements");
  auto coord = from.mesh().get_coordinate();
  if (!coord) return local;  // ranks outside the mesh hold empty shards and take no part
  Placements current = from.placements();
  at::Tensor x = local;
  for (const auto& step : plan_redistribute(from, to.placements())) {
    if (from.mesh().size(step.mesh_dim) > 1) {
      auto ctx = context_for(from, current, step, *coord, /*async=*/false);
      x = transform_for(step.from, step.to)(x, step, ctx).wait();
    }
    current[step.mesh_dim] = step.to;
  }
  return x;
}

std::optional<comm::Pending> redistribute_local_async(const at::Tensor& local,
                                                      const DTensorSpec& from,
                                                      const DTensorSpec& to) {
  auto coord = from.mesh().get_coordinate();
  if (!coord) return std::nullopt;
  auto steps = plan_redistribute(from, to.placements());
  if (steps.size() != 1 || from.mesh().size(steps[0].mesh_dim) == 1) return std::nullopt;
  auto ctx = context_for(from, from.placements(), steps[0], *coord, /*async=*/true);
  return transform_for(steps[0].from, steps[0].to)(local, steps[0], ctx);
}

double redistribute_cost(const DTensorSpec& from, const Placements& to) {
  if (from.placements() == to) return 0.0;
  for (size_t m = 0; m < to.size(); ++m)
    if (!feasible(from.placements()[m], to[m])) return std::numeric_limits<double>::infinity();
  constexpr double kLatencyBytes = 4096.0;  // a collective's fixed cost, in byte-equivalents
  const double elem = static_cast<double>(c10::elementSize(from.dtype()));
  Placements current = from.placements();
  double cost = 0.0;
  for (const auto& step : plan_redistribute(from, to)) {
    const double n = static_cast<double>(from.mesh().size(step.mesh_dim));
    double shards = 1.0;
    for (int64_t m = 0; m < static_cast<int64_t>(current.size()); ++m)
      if (current[m].is_shard()) shards *= static_cast<double>(from.mesh().size(m));
    const double bytes = static_cast<double>(from.numel()) * elem / shards;
    current[step.mesh_dim] = step.to;
    if (n == 1.0) continue;
    if (step.from.is_shard() && step.to.is_replicate()) cost += kLatencyBytes + bytes * (n - 1);
    else if (step.from.is_partial() && step.to.is_replicate()) cost += kLatencyBytes + 2 * bytes * (n - 1) / n;
    else if (step.from.is_partial() || step.from.is_shard()) cost += kLatencyBytes + bytes * (n - 1) / n;
    else cost += 1.0;  // local: R -> S or R -> P
  }
  return cost;
}

}  // namespace dtensor::detail
