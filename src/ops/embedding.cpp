// Embedding lookup (embedding) and its weight gradient (embedding_dense_backward).
//
// embedding(weight [V, D], indices [...], padding_idx, scale_grad_by_freq, sparse) -> [..., D]
// Per mesh dim (weight, indices -> output):
//   R,    R    -> R       everything whole
//   S(1), R    -> S(-1)   colwise: each rank looks up its embedding columns
//   R,    S(d) -> S(d)    batch: each rank looks up its indices
//   P,    R    -> P       the lookup is linear in the weight
//   S(0), R    -> P(sum)  rowwise: each rank owns a block of vocabulary rows [offset,
//                         offset + rows) (torch.chunk of the global V, nested across mesh dims).
//                         It maps indices into its block, looks them up and zeroes the results of
//                         indices outside it, so the ranks' outputs add up to the full lookup. The
//                         reduction happens later, where the output is redistributed (P -> R:
//                         one all_reduce; P -> S: one reduce_scatter). PyTorch expresses the same
//                         with a _MaskPartial placement; a plain Partial(sum) with the mask
//                         applied at lookup time needs no mask kept alive between ops.
//
// embedding_dense_backward(grad_output [..., D], indices, num_weights = V, padding_idx,
//                          scale_grad_by_freq) -> grad_weight [V, D]
// Per mesh dim (grad_output, indices -> grad_weight):
//   R,     R    -> R
//   S(-1), R    -> S(1)   colwise
//   S(d),  S(d) -> P(sum) batch: each rank scatters its rows' gradients
//   P,     R    -> P      linear in grad_output
//   R,     R    -> S(0)   rowwise: each rank keeps the gradient of its own vocabulary rows: the
//                         occurrences of its rows among the (whole) indices, with
//                         num_weights = its row count. No communication.
// A whole gradient with whole indices gives the rowwise (Shard(0)) gradient: the backward cannot
// see the weight's layout, and the rowwise case is the one where a full [V, D] gradient per rank
// would defeat the sharding (a replicated weight's optimizer step gathers it instead).
// padding_idx is a global row: only the rank owning it passes it on (as a local row).
// scale_grad_by_freq divides by each row's count over all indices: the batch strategy would count
// only a rank's indices, so it is not offered then; the rowwise strategy counts exactly (it sees
// every occurrence of its rows).
//
// libtorch 1.13 has no meta kernels for these ops: the rules state the output metadata.
#include <ATen/ATen.h>

#include "ops/common.h"

namespace dtensor::ops {
namespace {

bool shards_dim0(const Placements& p) {
  return std::any_of(p.begin(), p.end(), [](const Placement& x) { return x.is_shard(0); });
}

// This rank's vocabulary rows [offset, offset + rows) of a [V, D] tensor laid out as `p`.
std::pair<int64_t, int64_t> vocab_rows(const DeviceMesh& mesh, const Placements& p, int64_t vocab, int64_t dim) {
  auto [shape, offset] = local_piece(mesh, p, {vocab, dim});
  return {offset[0], shape[0]};
}

at::Tensor in_block(const at::Tensor& indices, int64_t offset, int64_t rows) {
  return indices.ge(offset).logical_and_(indices.lt(offset + rows));
}

// Rowwise lookup: indices of other ranks' rows give zeros.
LocalFn masked_lookup(int64_t offset, int64_t rows) {
  return [=](const c10::OperatorHandle& op, torch::jit::Stack& stack) {
    const size_t num_args = op.schema().arguments().size();
    const at::Tensor weight = stack[stack.size() - num_args].toTensor();
    const at::Tensor indices = stack[stack.size() - num_args + 1].toTensor();
    torch::jit::drop(stack, num_args);
    const auto mine = in_block(indices, offset, rows);
    auto shape = indices.sizes().vec();
    shape.push_back(weight.size(1));
    if (rows == 0) {
      stack.emplace_back(at::zeros(shape, weight.options()));
      return;
    }
    auto out = at::embedding(weight, (indices - offset).masked_fill_(mine.logical_not(), 0));
    stack.emplace_back(out.masked_fill_(mine.logical_not().unsqueeze(-1), 0));
  };
}

// Rowwise gradient: the occurrences of this rank's rows only.
LocalFn masked_backward(int64_t offset, int64_t rows) {
  return [=](const c10::OperatorHandle& op, torch::jit::Stack& stack) {
    const size_t num_args = op.schema().arguments().size(), base = stack.size() - num_args;
    const at::Tensor grad = stack[base].toTensor();
    const at::Tensor indices = stack[base + 1].toTensor();
    const int64_t padding_idx = stack[base + 3].toInt();
    const bool scale = stack[base + 4].toBool();
    torch::jit::drop(stack, num_args);
    const int64_t dim = grad.size(-1);
    if (rows == 0) {
      stack.emplace_back(at::zeros({0, dim}, grad.options()));
      return;
    }
    const auto positions = in_block(indices, offset, rows).flatten().nonzero().squeeze(1);
    const auto local_indices = indices.flatten().index_select(0, positions) - offset;
    const auto local_grad = grad.reshape({-1, dim}).index_select(0, positions);
    const bool owns_padding = padding_idx >= offset && padding_idx < offset + rows;
    stack.emplace_back(at::embedding_dense_backward(local_grad, local_indices, rows,
                                                    owns_padding ? padding_idx - offset : -1, scale));
  };
}

std::vector<OpStrategy> embedding_rule(const OpCall& call) {
  const auto& weight = call.input(0);
  const auto& indices = call.input(1);
  TORCH_CHECK_VALUE(weight.ndim() == 2, "embedding: weight must be 2-D [num_embeddings, embedding_dim], got shape [",
                    c10::Join(", ", weight.shape()), "]");
  const int64_t out_last = indices.ndim();
  std::vector<std::vector<std::vector<Placement>>> options;
  for (int64_t m = 0; m < call.mesh_ndim(); ++m) {
    std::vector<std::vector<Placement>> rows{{Replicate{}, Replicate{}, Replicate{}},
                                            {Shard(1), Replicate{}, Shard(out_last)},
                                            {Shard(0), Replicate{}, Partial("sum")}};
    const auto& w = weight.placements()[m];
    if (sum_like_partial(w)) rows.push_back({w, Replicate{}, w});
    for (int64_t d = 0; d < indices.ndim(); ++d) rows.push_back({Replicate{}, Shard(d), Shard(d)});
    options.push_back(std::move(rows));
  }
  auto strategies = combine_mesh_dims(options, 2, 1);
  auto out_shape = indices.shape();
  out_shape.push_back(weight.shape()[1]);
  for (auto& s : strategies) {
    s.output_meta = std::vector<TensorMeta>{contiguous_meta(out_shape, weight.dtype())};
    if (!shards_dim0(s.inputs[0])) continue;
    auto [offset, rows] = vocab_rows(call.mesh(), s.inputs[0], weight.shape()[0], weight.shape()[1]);
    s.local = masked_lookup(offset, rows);
  }
  return strategies;
}

std::vector<OpStrategy> embedding_backward_rule(const OpCall& call) {
  const auto& grad = call.input(0);
  const auto& indices = call.input(1);
  const int64_t num_weights = call.int_arg(2);
  const bool scale_grad_by_freq = call.arg(4).toBool();
  const int64_t grad_last = grad.ndim() - 1;
  std::vector<std::vector<std::vector<Placement>>> options;
  for (int64_t m = 0; m < call.mesh_ndim(); ++m) {
    // Rowwise first: with a whole gradient and whole indices it ties with all-replicate, and a
    // row-sharded gradient is what a row-sharded weight needs (no full [V, D] per rank).
    std::vector<std::vector<Placement>> rows{{Replicate{}, Replicate{}, Shard(0)},
                                            {Replicate{}, Replicate{}, Replicate{}},
                                            {Shard(grad_last), Replicate{}, Shard(1)}};
    const auto& g = grad.placements()[m];
    if (sum_like_partial(g)) rows.push_back({g, Replicate{}, g});
    if (!scale_grad_by_freq)
      for (int64_t d = 0; d < indices.ndim(); ++d) rows.push_back({Shard(d), Shard(d), Partial("sum")});
    options.push_back(std::move(rows));
  }
  auto strategies = combine_mesh_dims(options, 2, 1);
  const int64_t dim = grad.shape().empty() ? 0 : grad.shape().back();
  for (auto& s : strategies) {
    s.output_meta = std::vector<TensorMeta>{contiguous_meta({num_weights, dim}, grad.dtype())};
    if (!shards_dim0(*s.outputs[0])) continue;
    auto [offset, rows] = vocab_rows(call.mesh(), *s.outputs[0], num_weights, dim);
    s.local = masked_backward(offset, rows);
  }
  return strategies;
}

}  // namespace

DTENSOR_RULES(embedding) {
  register_rule("aten::embedding", embedding_rule);
  register_rule("aten::embedding_dense_backward", embedding_backward_rule);
}

}  // namespace dtensor::ops
