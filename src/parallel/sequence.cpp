// SequenceParallel: see include/dtensor/parallel/style.h.
#include <torch/nn/module.h>

#include <dtensor/distribute_module.h>
#include <dtensor/nn/parameters.h>

#include "parallel/style_common.h"

namespace dtensor::parallel {

void SequenceParallel::apply(torch::nn::Module& module, const DeviceMesh& mesh, const ApplyContext&) const {
  // Parameters become Replicate DTensors of each rank's own values (no broadcast), as PyTorch:
  // norms start at ones everywhere; custom initialisations must be made equal by the user.
  auto partition = [](const std::string&, torch::nn::Module& m, const DeviceMesh& mesh) {
    for (const auto& p : m.named_parameters(/*recurse=*/false)) {
      if (!p.value().defined() || is_dtensor(p.value())) continue;
      nn::replace_parameter(m, p.key(), DTensor::from_local(p.value().detach(), mesh, {Replicate{}}));
    }
  };
  const Placement sequence = Shard(sequence_dim_);
  const bool local = use_local_output_;
  distribute_module(
      module, mesh, partition,
      [sequence](torch::nn::Module& m, std::vector<at::Tensor>& inputs, const DeviceMesh& mesh) {
        TORCH_CHECK_VALUE(!inputs.empty() && inputs[0].defined(), "expecting input of ", m.name(),
                          " to be a torch.Tensor or DTensor, but got ",
                          inputs.empty() ? "no tensor argument" : "an undefined tensor");
        if (!is_dtensor(inputs[0])) {
          // A plain input is taken to be this rank's piece of the sequence.
          const auto view = detail::module_view(m, mesh);
          inputs[0] = DTensor::from_local(inputs[0], view.mesh, detail::on_tp(view, sequence));
          return;
        }
        DTensor x(inputs[0]);
        const auto view = detail::tp_view(x.device_mesh(), mesh);
        const auto target = detail::on_tp(view, sequence.normalized(x.dim()), &x.placements());
        if (x.placements() != target) inputs[0] = x.redistribute(target, RedistributeOptions{/*async_op=*/true});
      },
      [local](torch::nn::Module&, std::vector<at::Tensor>& outputs, const DeviceMesh&) {
        if (local && is_dtensor(outputs[0])) outputs[0] = DTensor(outputs[0]).to_local();
      },
      /*src_data_rank=*/std::nullopt);
}

std::string SequenceParallel::repr() const {
  return "SequenceParallel(sequence_dim=" + std::to_string(sequence_dim_) +
         ", use_local_output=" + detail::bool_repr(use_local_output_) + ")";
}

}  // namespace dtensor::parallel
