// ColwiseParallel: see include/dtensor/parallel/style.h for placements and collectives.
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>

#include <dtensor/distribute_module.h>
#include <dtensor/nn/parameters.h>

#include "parallel/style_common.h"

namespace dtensor::parallel {

void ColwiseParallel::validate() const {
  TORCH_CHECK_VALUE(!output_layouts_.is_partial(), "ColwiseParallel: output_layouts ", output_layouts_.str(),
                    " is not reachable: the column-sharded output can become Shard or Replicate, not Partial");
}

void ColwiseParallel::apply(torch::nn::Module& module, const DeviceMesh& mesh, const ApplyContext& ctx) const {
  validate();
  const bool linear = dynamic_cast<torch::nn::LinearImpl*>(&module) != nullptr;
  const bool embedding = dynamic_cast<torch::nn::EmbeddingImpl*>(&module) != nullptr;
  TORCH_CHECK_NOT_IMPLEMENTED(linear || embedding, "ColwiseParallel currently only support nn.Linear and "
                              "nn.Embedding! Got ", module.name(), " at '", ctx.path, "'");
  // Linear: every parameter on its out-features dim 0; Embedding: the weight on its dim 1.
  const Placement shard = linear ? Placement(Shard(0)) : Placement(Shard(1));
  auto src = ctx.src_data_rank;
  auto partition = [shard, src](const std::string&, torch::nn::Module& m, const DeviceMesh& mesh) {
    for (const auto& p : m.named_parameters(/*recurse=*/false)) {
      if (!p.value().defined()) continue;
      nn::replace_parameter(m, p.key(), distribute_tensor(p.value().detach(), mesh, {shard}, src));
    }
  };
  const Placement in = input_layouts_, out = output_layouts_;
  const bool local = use_local_output_;
  distribute_module(
      module, mesh, partition,
      [in](torch::nn::Module& m, std::vector<at::Tensor>& inputs, const DeviceMesh& mesh) {
        detail::prepare_input(m, inputs, mesh, in, Replicate{}, "ColwiseParallel");
      },
      [out, local](torch::nn::Module&, std::vector<at::Tensor>& outputs, const DeviceMesh& mesh) {
        detail::prepare_output(outputs, mesh, out, local);
      },
      src);
}

std::string ColwiseParallel::repr() const {
  return "ColwiseParallel(input_layouts=(" + input_layouts_.repr() + ",), output_layouts=(" +
         output_layouts_.repr() + ",), use_local_output=" + detail::bool_repr(use_local_output_) + ")";
}

}  // namespace dtensor::parallel
