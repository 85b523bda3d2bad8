// Tensor-parallel styles (PyTorch's torch.distributed.tensor.parallel.style), as values with
// chained setters (libtorch options idiom). Defaults are PyTorch's. Each style states below the
// placements it gives parameters and the collectives it costs on a 1-D mesh of n ranks.
//
// ColwiseParallel  (input R, output Shard(-1))
//   Linear: weight [out, in] and bias [out] Shard(0) (out features). y = x W^T + b: each rank
//   computes its out/n columns. Forward: no collective (input_layouts R); input_layouts Shard(d)
//   all-gathers the input (1 all_gather). Backward: the input gradient is Partial -> 1 all_reduce
//   to R (only if the input requires grad), or 1 reduce_scatter for input_layouts Shard(d).
//   Embedding: weight [vocab, dim] Shard(1): each rank looks up dim/n columns; no collective.
// RowwiseParallel  (input Shard(-1), output R)
//   Linear: weight Shard(1) (in features), bias Replicate. x (sharded on its last dim) times
//   W^T (sharded on the contracting dim) is Partial(sum); the bias enters once. Output R: 1
//   all_reduce forward, none backward; output Shard(d): 1 reduce_scatter forward, 1 all_gather
//   backward.
//   Embedding: weight Shard(0) (vocab rows), input Replicate: each rank looks up the indices it
//   owns and zeroes the others' rows, giving Partial(sum): same collectives as Linear.
// SequenceParallel (sequence_dim 1, output stays a Shard(sequence_dim) DTensor)
//   For norms/dropout on sequence-sharded activations: parameters Replicate via from_local (no
//   broadcast: they are assumed equal, e.g. ones). No collective in forward or backward; the
//   parameter gradients are Partial(sum) (a sum over the sharded sequence).
// PrepareModuleInput / PrepareModuleOutput / PrepareModuleInputOutput
//   Annotate plain tensors with a layout (from_local, no communication) and redistribute them to
//   the desired layout (the collective that transition needs).
//
// Colwise/Rowwise/Sequence act on the first positional tensor of forward and partition
// parameters through distribute_module (so two of them on one module is an error); the Prepare*
// styles only register hooks and compose with anything. Modules must be called through hookable
// holders (dtensor::nn::ModuleHolder / DTENSOR_MODULE) for hooks to run.
#pragma once

#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <type_traits>
#include <vector>

#include <dtensor/device_mesh.h>
#include <dtensor/placement.h>

namespace torch::nn {
class Module;
}

namespace dtensor::parallel {

using Layouts = std::vector<std::optional<Placement>>;  // nullopt: leave that argument alone

struct ApplyContext {
  std::optional<int> src_data_rank = 0;
  std::string path;  // the module's path in the parallelized tree ("" for the root)
};

class ParallelStyleBase {
 public:
  virtual ~ParallelStyleBase() = default;
  // Checks the style's own consistency; parallelize_module calls it before touching any module.
  virtual void validate() const {}
  virtual void apply(torch::nn::Module& module, const DeviceMesh& mesh, const ApplyContext& ctx) const = 0;
  virtual std::string repr() const = 0;
};

class ColwiseParallel : public ParallelStyleBase {
 public:
  ColwiseParallel& input_layouts(Placement p) { input_layouts_ = p; return *this; }
  ColwiseParallel& output_layouts(Placement p) { output_layouts_ = p; return *this; }
  ColwiseParallel& use_local_output(bool v) { use_local_output_ = v; return *this; }
  void validate() const override;
  void apply(torch::nn::Module& module, const DeviceMesh& mesh, const ApplyContext& ctx) const override;
  std::string repr() const override;

 private:
  Placement input_layouts_ = Replicate{};
  Placement output_layouts_ = Shard(-1);
  bool use_local_output_ = true;
};

class RowwiseParallel : public ParallelStyleBase {
 public:
  RowwiseParallel& input_layouts(Placement p) { input_layouts_ = p; return *this; }
  RowwiseParallel& output_layouts(Placement p) { output_layouts_ = p; return *this; }
  RowwiseParallel& use_local_output(bool v) { use_local_output_ = v; return *this; }
  void validate() const override;
  void apply(torch::nn::Module& module, const DeviceMesh& mesh, const ApplyContext& ctx) const override;
  std::string repr() const override;

 private:
  Placement input_layouts_ = Shard(-1);
  Placement output_layouts_ = Replicate{};
  bool use_local_output_ = true;
};

class SequenceParallel : public ParallelStyleBase {
 public:
  SequenceParallel& sequence_dim(int64_t d) { sequence_dim_ = d; return *this; }
  SequenceParallel& use_local_output(bool v) { use_local_output_ = v; return *this; }
  void apply(torch::nn::Module& module, const DeviceMesh& mesh, const ApplyContext& ctx) const override;
  std::string repr() const override;

 private:
  int64_t sequence_dim_ = 1;
  bool use_local_output_ = false;
};

class PrepareModuleInput : public ParallelStyleBase {
 public:
  PrepareModuleInput& input_layouts(Layouts l) { input_layouts_ = std::move(l); return *this; }
  PrepareModuleInput& desired_input_layouts(Layouts l) { desired_input_layouts_ = std::move(l); return *this; }
  PrepareModuleInput& use_local_output(bool v) { use_local_output_ = v; return *this; }
  void validate() const override;
  void apply(torch::nn::Module& module, const DeviceMesh& mesh, const ApplyContext& ctx) const override;
  std::string repr() const override;

 private:
  std::optional<Layouts> input_layouts_;
  std::optional<Layouts> desired_input_layouts_;
  bool use_local_output_ = false;
};

class PrepareModuleOutput : public ParallelStyleBase {
 public:
  PrepareModuleOutput& output_layouts(Layouts l) { output_layouts_ = std::move(l); return *this; }
  PrepareModuleOutput& desired_output_layouts(Layouts l) { desired_output_layouts_ = std::move(l); return *this; }
  PrepareModuleOutput& use_local_output(bool v) { use_local_output_ = v; return *this; }
  void validate() const override;
  void apply(torch::nn::Module& module, const DeviceMesh& mesh, const ApplyContext& ctx) const override;
  std::string repr() const override;

 private:
  std::optional<Layouts> output_layouts_;
  std::optional<Layouts> desired_output_layouts_;
  bool use_local_output_ = true;
};

class PrepareModuleInputOutput : public ParallelStyleBase {
 public:
  PrepareModuleInputOutput& input_layouts(Layouts l) { input_.input_layouts(std::move(l)); return *this; }
  PrepareModuleInputOutput& desired_input_layouts(Layouts l) { input_.desired_input_layouts(std::move(l)); return *this; }
  PrepareModuleInputOutput& use_local_input(bool v) { input_.use_local_output(v); return *this; }
  PrepareModuleInputOutput& output_layouts(Layouts l) { output_.output_layouts(std::move(l)); return *this; }
  PrepareModuleInputOutput& desired_output_layouts(Layouts l) { output_.desired_output_layouts(std::move(l)); return *this; }
  PrepareModuleInputOutput& use_local_output(bool v) { output_.use_local_output(v); return *this; }
  void validate() const override;
  void apply(torch::nn::Module& module, const DeviceMesh& mesh, const ApplyContext& ctx) const override;
  std::string repr() const override;

 private:
  PrepareModuleInput input_;
  PrepareModuleOutput output_;
};

// Type-erased style: implicitly constructible from every style above (and user styles deriving
// from ParallelStyleBase). Copies share the style.
class ParallelStyle {
 public:
  template <class S, std::enable_if_t<std::is_base_of_v<ParallelStyleBase, std::decay_t<S>>, int> = 0>
  ParallelStyle(S&& style)  // NOLINT: implicit by design
      : impl_(std::make_shared<std::decay_t<S>>(std::forward<S>(style))) {}

  void validate() const { impl_->validate(); }
  void apply(torch::nn::Module& module, const DeviceMesh& mesh, const ApplyContext& ctx) const {
    impl_->apply(module, mesh, ctx);
  }
  std::string repr() const { return impl_->repr(); }

 private:
  std::shared_ptr<const ParallelStyleBase> impl_;
};

std::ostream& operator<<(std::ostream& os, const ParallelStyle& style);

}  // namespace dtensor::parallel
