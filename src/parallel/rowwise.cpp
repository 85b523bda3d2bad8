// RowwiseParallel: see include/dtensor/parallel/style.h for placements and collectives.
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>

#include <dtensor/distribute_module.h>
#include <dtensor/nn/parameters.h>

#include "parallel/style_common.h"

namespace dtensor::parallel {

void RowwiseParallel::validate() const {}

void RowwiseParallel::apply(torch::nn::Module& module, const DeviceMesh& mesh, const ApplyContext& ctx) const {
  validate();
  const bool linear = dynamic_cast<torch::nn::LinearImpl*>(&module) != nullptr;
  const bool embedding = dynamic_cast<torch::nn::EmbeddingImpl*>(&module) != nullptr;
  TORCH_CHECK_NOT_IMPLEMENTED(linear || embedding, "RowwiseParallel currently only support nn.Linear and "
                              "nn.Embedding! Got ", module.name(), " at '", ctx.path, "'");
  auto src = ctx.src_data_rank;
  // Linear: weight on its in-features dim 1, bias replicated (it is added once to the Partial
  // product); Embedding: the weight on its vocab dim 0.
  auto partition = [linear, src](const std::string&, torch::nn::Module& m, const DeviceMesh& mesh) {
    for (const auto& p : m.named_parameters(/*recurse=*/false)) {
      if (!p.value().defined()) continue;
      const Placement placement =
          !linear ? Placement(Shard(0)) : p.key() == "weight" ? Placement(Shard(1)) : Placement(Replicate{});
      nn::replace_parameter(m, p.key(), distribute_tensor(p.value().detach(), mesh, {placement}, src));
    }
  };
  const Placement desired = linear ? Placement(Shard(-1)) : Placement(Replicate{});
  const Placement in = input_layouts_, out = output_layouts_;
  const bool local = use_local_output_;
  distribute_module(
      module, mesh, partition,
      [in, desired](torch::nn::Module& m, std::vector<at::Tensor>& inputs, const DeviceMesh& mesh) {
        detail::prepare_input(m, inputs, mesh, in, desired, "RowwiseParallel");
      },
      [out, local](torch::nn::Module&, std::vector<at::Tensor>& outputs, const DeviceMesh& mesh) {
        detail::prepare_output(outputs, mesh, out, local);
      },
      src);
}

std::string RowwiseParallel::repr() const {
  return "RowwiseParallel(input_layouts=(" + input_layouts_.repr() + ",), output_layouts=(" +
         output_layouts_.repr() + ",), use_local_output=" + detail::bool_repr(use_local_output_) + ")";
}

}  // namespace dtensor::parallel
