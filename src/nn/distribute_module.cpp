#include <dtensor/distribute_module.h>

#include <torch/nn/module.h>

#include <dtensor/nn/hooks.h>
#include <dtensor/nn/parameters.h>
#include <dtensor/tensor.h>

namespace dtensor {

void distribute_module(torch::nn::Module& module, const DeviceMesh& mesh, const PartitionFn& partition_fn,
                       const InputFn& input_fn, const OutputFn& output_fn, std::optional<int> src_data_rank) {
  TORCH_CHECK(nn::detail::mark_distributed(module),
              "distribute_module should only be called once on a module, but it has already been "
              "called on this module! (", module.name(), ": was it given two parameter-partitioning "
              "styles, e.g. ColwiseParallel and RowwiseParallel?)");
  const Placements replicated(mesh.ndim(), Replicate{});
  auto visit = [&](const std::string& name, torch::nn::Module& m) {
    if (partition_fn) partition_fn(name, m, mesh);
    for (const auto& p : m.named_parameters(/*recurse=*/false)) {
      if (p.value().defined() && !is_dtensor(p.value()))
        nn::replace_parameter(m, p.key(), distribute_tensor(p.value().detach(), mesh, replicated, src_data_rank));
    }
    for (const auto& b : m.named_buffers(/*recurse=*/false)) {
      if (b.value().defined() && !is_dtensor(b.value()))
        nn::replace_buffer(m, b.key(), distribute_tensor(b.value(), mesh, replicated, src_data_rank));
    }
  };
  visit("", module);
  for (const auto& child : module.named_modules("", /*include_self=*/false)) visit(child.key(), *child.value());
  if (input_fn) {
    nn::register_forward_pre_hook(module, [input_fn, mesh](torch::nn::Module& m, std::vector<at::Tensor>& inputs) {
      input_fn(m, inputs, mesh);
    });
  }
  if (output_fn) {
    nn::register_forward_hook(module, [output_fn, mesh](torch::nn::Module& m, const std::vector<at::Tensor>&,
                                                        std::vector<at::Tensor>& outputs) {
      output_fn(m, outputs, mesh);
    });
  }
}

}  // namespace dtensor
