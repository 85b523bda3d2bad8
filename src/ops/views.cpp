// View and reshape ops.
//
// view/_unsafe_view/_reshape_alias regroup dims: the input and output shapes are split into
// minimal groups of equal element count. A shard survives a group when it is on the group's
// leftmost input dim and both that dim and the group's first output dim divide evenly by the
// number of shards (each rank's block of rows then maps to a block of the output); it lands on
// the group's first output dim. Otherwise `view` and `_unsafe_view` raise (PyTorch's strict
// view: silently moving data behind a view would break aliasing), and _reshape_alias (reached
// from reshape) replicates the dim first. Partial passes through every view (they are linear).
// Views with size arguments run locally with the output's local shape.
//
// transpose/permute/t move shard dims with the dims; unsqueeze/squeeze shift them; expand keeps
// shards on dims it does not broadcast (broadcast dims must be replicated).
#include "ops/common.h"

namespace dtensor::ops {
namespace {

struct Group {
  std::vector<int64_t> in, out;
};

std::vector<Group> view_groups(const std::vector<int64_t>& in, const std::vector<int64_t>& out) {
  std::vector<Group> groups;
  const auto has_zero = [](const std::vector<int64_t>& s) {
    return std::find(s.begin(), s.end(), 0) != s.end();
  };
  if (has_zero(in) || has_zero(out)) {  // empty tensors: one group, nothing to keep sharded
    Group g;
    for (size_t i = 0; i < in.size(); ++i) g.in.push_back(static_cast<int64_t>(i));
    for (size_t j = 0; j < out.size(); ++j) g.out.push_back(static_cast<int64_t>(j));
    return {g};
  }
  size_t i = 0, j = 0;
  while (i < in.size() || j < out.size()) {
    const bool in_one = i < in.size() && in[i] == 1, out_one = j < out.size() && out[j] == 1;
    if (in_one && out_one) {
      groups.push_back({{static_cast<int64_t>(i++)}, {static_cast<int64_t>(j++)}});
      continue;
    }
    if (in_one || j >= out.size()) {
      groups.push_back({{static_cast<int64_t>(i++)}, {}});
      continue;
    }
    if (out_one || i >= in.size()) {
      groups.push_back({{}, {static_cast<int64_t>(j++)}});
      continue;
    }
    Group g{{static_cast<int64_t>(i)}, {static_cast<int64_t>(j)}};
    int64_t pin = in[i++], pout = out[j++];
    while (pin != pout) {
      if (pin < pout) {
        TORCH_CHECK(i < in.size(), "view: shapes do not match");
        g.in.push_back(static_cast<int64_t>(i));
        pin *= in[i++];
      } else {
        TORCH_CHECK(j < out.size(), "view: shapes do not match");
        g.out.push_back(static_cast<int64_t>(j));
        pout *= out[j++];
      }
    }
    groups.push_back(std::move(g));
  }
  return groups;
}

std::vector<int64_t> infer_size(std::vector<int64_t> size, int64_t numel) {
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < size.size(); ++i) {
    if (size[i] == -1) infer = static_cast<int64_t>(i);
    else known *= size[i];
  }
  if (infer >= 0) size[infer] = known == 0 ? 0 : numel / known;
  return size;
}

std::vector<OpStrategy> regroup(const OpCall& call, const std::vector<int64_t>& out_shape, bool strict) {
  const auto& in = call.input(0);
  const auto groups = view_groups(in.shape(), out_shape);
  Placements in_p = in.placements(), out_p = in.placements();
  for (size_t m = 0; m < in_p.size(); ++m) {
    if (!in_p[m].is_shard()) continue;
    const int64_t d = in_p[m].shard_dim();
    const int64_t n = shards_of_dim(in_p, d, in.mesh());
    const Group* g = nullptr;
    for (const auto& x : groups)
      if (std::find(x.in.begin(), x.in.end(), d) != x.in.end()) g = &x;
    const bool leftmost = g && !g->out.empty() && g->in.front() == d;
    const bool even = leftmost && in.shape()[d] % n == 0 && out_shape[g->out.front()] % n == 0;
    const bool same_dim = g && g->in.size() == 1 && g->out.size() == 1;
    if (same_dim || even) {
      out_p[m] = Shard(g->out.front());
      continue;
    }
    TORCH_CHECK(!strict, "Attempted to flatten sharded dimension ", d, ", but only the leftmost dim "
                "of a Flatten can be sharded (and it must divide evenly: size ", in.shape()[d],
                " over ", n, " shards). ", call.name(), " from [", c10::Join(", ", in.shape()), "] to [",
                c10::Join(", ", out_shape), "] with placements ", to_string(in.placements()),
                ": redistribute (e.g. to Replicate) before the view, or use reshape.");
    in_p[m] = Replicate{};
    out_p[m] = Replicate{};
  }
  OpStrategy s;
  s.inputs.push_back(in_p);
  s.outputs.push_back(out_p);
  return {s};
}

// Runs `fn(local, local output shape)` in place of the op's arguments.
template <class Fn>
LocalFn with_local_shape(std::vector<int64_t> local_shape, Fn fn) {
  return [local_shape = std::move(local_shape), fn](const c10::OperatorHandle& op, torch::jit::Stack& stack) {
    const size_t n = op.schema().arguments().size();
    at::Tensor self = stack[stack.size() - n].toTensor();
    torch::jit::drop(stack, n);
    stack.emplace_back(fn(self, c10::IntArrayRef(local_shape)));
  };
}

std::vector<int64_t> local_shape_of(const DTensorSpec& in, const Placements& out_p,
                                    const std::vector<int64_t>& out_shape) {
  auto spec = DTensorSpec::make(in.mesh(), out_p, TensorMeta{out_shape, contiguous_strides(out_shape), in.dtype()});
  return spec->local_shape();
}

std::vector<OpStrategy> view_like(const OpCall& call, bool strict, bool unsafe) {
  const auto out_shape = infer_size(call.int_list_arg(1), call.input(0).numel());
  auto strategies = regroup(call, out_shape, strict);
  auto local = local_shape_of(call.input(0), *strategies[0].outputs[0], out_shape);
  strategies[0].local = with_local_shape(local, [unsafe](const at::Tensor& t, c10::IntArrayRef s) {
    return unsafe ? at::_unsafe_view(t, s) : t.view(s);
  });
  return strategies;
}

std::vector<OpStrategy> permute_like(const OpCall& call, const std::vector<int64_t>& perm) {
  // perm[j] = input dim of output dim j
  Placements out = call.input(0).placements();
  for (auto& p : out) {
    if (!p.is_shard()) continue;
    auto it = std::find(perm.begin(), perm.end(), p.shard_dim());
    p = Shard(it - perm.begin());
  }
  OpStrategy s;
  s.inputs.push_back(call.input(0).placements());
  s.outputs.push_back(out);
  return {s};
}

std::vector<int64_t> identity_perm(int64_t n) {
  std::vector<int64_t> p(n);
  for (int64_t i = 0; i < n; ++i) p[i] = i;
  return p;
}

std::vector<OpStrategy> transpose(const OpCall& call) {
  const int64_t nd = call.input(0).ndim();
  auto perm = identity_perm(nd);
  if (call.num_args() >= 3) {
    std::swap(perm[wrap_dim(call.int_arg(1), nd)], perm[wrap_dim(call.int_arg(2), nd)]);
  } else if (nd == 2) {
    std::swap(perm[0], perm[1]);  // t()
  }
  return permute_like(call, perm);
}

std::vector<OpStrategy> permute(const OpCall& call) {
  const int64_t nd = call.input(0).ndim();
  auto perm = call.int_list_arg(1);
  for (auto& d : perm) d = wrap_dim(d, nd);
  return permute_like(call, perm);
}

std::vector<OpStrategy> unsqueeze(const OpCall& call) {
  const int64_t dim = wrap_dim(call.int_arg(1), call.input(0).ndim() + 1);
  Placements out = call.input(0).placements();
  for (auto& p : out)
    if (p.is_shard() && p.shard_dim() >= dim) p = Shard(p.shard_dim() + 1);
  OpStrategy s;
  s.inputs.push_back(call.input(0).placements());
  s.outputs.push_back(out);
  return {s};
}

std::vector<OpStrategy> squeeze(const OpCall& call) {
  const auto& in = call.input(0);
  std::vector<int64_t> dims;
  if (call.num_args() >= 2 && call.arg(1).isInt()) {
    const int64_t d = wrap_dim(call.int_arg(1), in.ndim());
    if (in.ndim() > 0 && in.shape()[d] == 1) dims.push_back(d);
  } else {
    for (int64_t d = 0; d < in.ndim(); ++d)
      if (in.shape()[d] == 1) dims.push_back(d);
  }
  Placements in_p = unshard_dims(in.placements(), dims), out = in_p;
  for (auto& p : out) {
    if (!p.is_shard()) continue;
    int64_t shift = 0;
    for (int64_t d : dims) shift += d < p.shard_dim();
    p = Shard(p.shard_dim() - shift);
  }
  OpStrategy s;
  s.inputs.push_back(in_p);
  s.outputs.push_back(out);
  return {s};
}

std::vector<OpStrategy> expand(const OpCall& call) {
  const auto& in = call.input(0);
  auto size = call.int_list_arg(1);
  const int64_t lead = static_cast<int64_t>(size.size()) - in.ndim();
  for (int64_t j = 0; j < static_cast<int64_t>(size.size()); ++j)
    if (size[j] == -1) size[j] = in.shape()[j - lead];
  std::vector<int64_t> broadcast;
  for (int64_t d = 0; d < in.ndim(); ++d)
    if (in.shape()[d] == 1 && size[d + lead] != 1) broadcast.push_back(d);
  Placements in_p = unshard_dims(in.placements(), broadcast), out = in_p;
  for (auto& p : out)
    if (p.is_shard()) p = Shard(p.shard_dim() + lead);
  OpStrategy s;
  s.inputs.push_back(in_p);
  s.outputs.push_back(out);
  s.local = with_local_shape(local_shape_of(in, out, size),
                             [](const at::Tensor& t, c10::IntArrayRef s) { return t.expand(s); });
  return {s};
}

}  // namespace

DTENSOR_RULES(views) {
  register_rule("aten::view", [](const OpCall& c) { return view_like(c, /*strict=*/true, false); });
  register_rule("aten::_unsafe_view", [](const OpCall& c) { return view_like(c, true, /*unsafe=*/true); });
  register_rule("aten::_reshape_alias", [](const OpCall& c) { return view_like(c, false, false); });
  register_rule({"aten::t", "aten::transpose.int"}, transpose);
  register_rule("aten::permute", permute);
  register_rule("aten::unsqueeze", unsqueeze);
  register_rule({"aten::squeeze", "aten::squeeze.dim"}, squeeze);
  register_rule("aten::expand", expand);
}

}  // namespace dtensor::ops
