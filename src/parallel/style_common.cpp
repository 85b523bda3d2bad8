#include "parallel/style_common.h"

#include <c10/util/StringUtil.h>

namespace dtensor::parallel::detail {

TpView tp_view(const DeviceMesh& tensor_mesh, const DeviceMesh& style_mesh) {
  if (tensor_mesh == style_mesh) return {tensor_mesh, 0};
  const auto& names = tensor_mesh.mesh_dim_names();
  for (size_t d = 0; d < names.size(); ++d) {
    if (tensor_mesh[names[d]] == style_mesh) return {tensor_mesh, static_cast<int64_t>(d)};
  }
  TORCH_CHECK_VALUE(false, "a tensor-parallel style on ", style_mesh, " met a DTensor on ", tensor_mesh,
                    ", which has no dim equal to the style's mesh. Apply styles with mesh[\"tp\"] of the "
                    "mesh the tensors live on (and name its dims).");
}

TpView module_view(torch::nn::Module& module, const DeviceMesh& style_mesh) {
  for (const auto& p : module.parameters(/*recurse=*/false))
    if (is_dtensor(p)) return tp_view(DTensor(p).device_mesh(), style_mesh);
  return {style_mesh, 0};
}

Placements on_tp(const TpView& view, const Placement& p, const Placements* base) {
  Placements out = base ? *base : Placements(view.mesh.ndim(), Replicate{});
  out[view.dim] = p;
  return out;
}

void prepare_input(torch::nn::Module& module, std::vector<at::Tensor>& inputs, const DeviceMesh& mesh,
                   const Placement& input_layout, const Placement& desired, const char* style) {
  TORCH_CHECK_VALUE(!inputs.empty() && inputs[0].defined(), style,
                    ": the module's forward needs a tensor as its first argument");
  DTensor x;
  TpView view{mesh, 0};
  if (is_dtensor(inputs[0])) {
    x = DTensor(inputs[0]);
    view = tp_view(x.device_mesh(), mesh);
  } else {
    view = module_view(module, mesh);
    x = DTensor::from_local(inputs[0], view.mesh, on_tp(view, input_layout));
  }
  if (input_layout != desired) {
    x = x.redistribute(on_tp(view, desired, &x.placements()), RedistributeOptions{/*async_op=*/true});
  }
  inputs[0] = x;
}

void prepare_output(std::vector<at::Tensor>& outputs, const DeviceMesh& mesh, const Placement& output_layout,
                    bool use_local_output) {
  DTensor out(outputs[0]);
  const auto view = tp_view(out.device_mesh(), mesh);
  const auto target = on_tp(view, output_layout.normalized(out.dim()), &out.placements());
  if (out.placements() != target) out = out.redistribute(target, RedistributeOptions{/*async_op=*/true});
  outputs[0] = use_local_output ? out.to_local() : at::Tensor(out);
}

std::string bool_repr(bool v) { return v ? "True" : "False"; }

std::string layouts_repr(const std::optional<Layouts>& l) {
  if (!l) return "None";
  std::vector<std::string> parts;
  for (const auto& p : *l) parts.push_back(p ? p->repr() : "None");
  return "(" + c10::Join(", ", parts) + (parts.size() == 1 ? ",)" : ")");
}

}  // namespace dtensor::parallel::detail

namespace dtensor::parallel {

std::ostream& operator<<(std::ostream& os, const ParallelStyle& style) { return os << style.repr(); }

}  // namespace dtensor::parallel
