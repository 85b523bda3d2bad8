// loss_parallel: vocabulary-parallel cross entropy.
//
// While the guard is alive, log_softmax, nll_loss and nll_loss2d on logits sharded on the class
// dim (dim 1 of [N, C, ...] inputs, dim 0 of [C]; a ColwiseParallel lm-head with
// use_local_output(false) produces them) run without gathering the vocabulary:
//   forward  log_softmax: local max -> all_reduce(max); local sum(exp(x - max)) ->
//            all_reduce(sum); nll_loss: each rank picks the log-probabilities of the targets it
//            owns (others masked to 0) -> all_reduce(sum). Exactly 3 all_reduces.
//   backward the gradient of the logits, softmax - one_hot (times class weights and the reduction
//            scale), is computed locally on each shard: no communication.
// Targets are class indices, replicated (a plain tensor, or a DTensor with the logits' placements
// minus the class dim); class weights are replicated. Reductions none/mean/sum, class weights and
// ignore_index are supported; label smoothing is not. The fused backward assumes the
// log_softmax output feeds only the nll_loss (as in cross_entropy). Backward must run while the
// guard is alive. The guard restores normal behaviour when it ends, also during unwinding.
#pragma once

namespace dtensor::parallel {

class LossParallel {
 public:
  LossParallel();
  ~LossParallel();
  LossParallel(LossParallel&& other) noexcept;
  LossParallel& operator=(LossParallel&& other) noexcept;
  LossParallel(const LossParallel&) = delete;
  LossParallel& operator=(const LossParallel&) = delete;

 private:
  void release();
  bool active_ = false;
};

// auto guard = dtensor::parallel::loss_parallel();
LossParallel loss_parallel();

}  // namespace dtensor::parallel
