// Joining and splitting along a dim: cat, stack, split*, unbind.
//
//   cat       the concat dim must be whole (a rank's block of the result would mix rows of
//             several inputs). Candidates: each input's layout with the concat dim replicated,
//             applied to all inputs (their other dims have equal sizes, so shards line up), plus
//             all-Replicate; the dispatcher takes the one moving the fewest bytes. Partial
//             passes: cat selects elements, and replicated inputs become Partial locally. Legacy
//             empty inputs (1-D, size 0), which cat skips whatever the other shapes, keep their
//             own layout.
//   stack     like cat without a concat dim to replicate: the new dim is inserted.
//             cat has its own autograd kernel (ops/derivatives.h): libtorch gives a legacy
//             empty input a plain at::zeros({0}) gradient; here it is a (replicated) DTensor.
//   split / split_with_sizes (+ unsafe_ and _copy forms; chunk decomposes to split): the split
//             dim is replicated, the pieces keep the other shards (PyTorch). unbind likewise, the
//             dim removed.
#include "ops/common.h"
#include "ops/derivatives.h"

namespace dtensor::ops {
namespace {

void add_candidate(std::vector<Placements>& candidates, Placements p) {
  if (std::find(candidates.begin(), candidates.end(), p) == candidates.end()) candidates.push_back(std::move(p));
}

// cat skips 1-D inputs of size 0 whatever the other shapes (PyTorch's legacy behaviour).
bool legacy_empty(c10::IntArrayRef shape) { return shape.size() == 1 && shape[0] == 0; }

std::vector<OpStrategy> cat(const OpCall& call) {
  auto skipped = [&call](size_t k) { return legacy_empty(call.input(k).shape()); };
  int64_t ndim = -1;
  for (size_t k = 0; k < call.num_inputs() && ndim < 0; ++k)
    if (!skipped(k)) ndim = call.input(k).ndim();
  if (ndim < 0) return {all_replicate(call, 1)};  // only empty inputs
  const int64_t dim = wrap_dim(call.arg("dim").toInt(), ndim);
  std::vector<Placements> candidates;
  for (size_t k = 0; k < call.num_inputs(); ++k)
    if (!skipped(k)) add_candidate(candidates, unshard_dims(call.input(k).placements(), {dim}));
  add_candidate(candidates, replicate(call.mesh_ndim()));
  std::vector<OpStrategy> strategies;
  for (const auto& c : candidates) {
    OpStrategy s;
    for (size_t k = 0; k < call.num_inputs(); ++k) s.inputs.push_back(skipped(k) ? call.input(k).placements() : c);
    s.outputs.push_back(c);
    strategies.push_back(std::move(s));
  }
  return strategies;
}

// cat's gradient, as libtorch computes it: each input's block of grad along dim (the real part
// for a real input of a complex result), and empty zeros for legacy empty inputs.
Backward cat_backward(c10::ArrayRef<c10::IValue> args) {
  const auto tensors = args[0].toTensorList();
  int64_t ndim = -1;
  for (const at::Tensor& t : tensors)
    if (!legacy_empty(t.sizes())) {
      ndim = t.dim();
      break;
    }
  const int64_t dim = ndim < 0 ? 0 : wrap_dim(args[1].toInt(), ndim);
  std::vector<int64_t> sizes;  // along dim; -1 for legacy empty inputs
  std::vector<bool> complex;
  for (const at::Tensor& t : tensors) {
    sizes.push_back(legacy_empty(t.sizes()) ? -1 : t.size(dim));
    complex.push_back(t.is_complex());
  }
  return [=](const at::Tensor& grad, const std::vector<bool>& needed) {
    std::vector<at::Tensor> grads(sizes.size());
    int64_t offset = 0;
    for (size_t i = 0; i < sizes.size(); ++i) {
      if (sizes[i] < 0) {
        if (needed[i]) grads[i] = grad.new_zeros({0});
        continue;
      }
      if (needed[i]) grads[i] = (grad.is_complex() && !complex[i] ? at::real(grad) : grad).narrow(dim, offset, sizes[i]);
      offset += sizes[i];
    }
    return grads;
  };
}

std::vector<OpStrategy> stack(const OpCall& call) {
  const int64_t dim = wrap_dim(call.arg("dim").toInt(), call.input(0).ndim() + 1);
  std::vector<Placements> candidates;
  for (size_t k = 0; k < call.num_inputs(); ++k) add_candidate(candidates, call.input(k).placements());
  add_candidate(candidates, replicate(call.mesh_ndim()));
  std::vector<OpStrategy> strategies;
  for (const auto& c : candidates) {
    OpStrategy s;
    s.inputs.assign(call.num_inputs(), c);
    s.outputs.push_back(shift_after_insert(c, dim));
    strategies.push_back(std::move(s));
  }
  return strategies;
}

// split(self, split_size | split_sizes, dim): one layout for every piece.
std::vector<OpStrategy> split(const OpCall& call) {
  const auto& in = call.input(0);
  const Placements p = unshard_dims(in.placements(), {wrap_dim(call.arg("dim").toInt(), in.ndim())});
  return {make_strategy({p}, p)};
}

std::vector<OpStrategy> unbind(const OpCall& call) {
  const auto& in = call.input(0);
  const int64_t dim = wrap_dim(call.arg("dim").toInt(), in.ndim());
  const Placements p = unshard_dims(in.placements(), {dim});
  return {make_strategy({p}, skip_dim(p, dim))};
}

}  // namespace

DTENSOR_RULES(concat) {
  register_rule("aten::cat", cat);
  register_derivative("aten::cat", cat_backward);
  register_rule("aten::stack", stack);
  register_rule({"aten::split.Tensor", "aten::split_with_sizes", "aten::unsafe_split.Tensor",
                 "aten::unsafe_split_with_sizes", "aten::split_copy.Tensor", "aten::split_with_sizes_copy"},
                split);
  register_rule("aten::unbind.int", unbind);
}

}  // namespace dtensor::ops
