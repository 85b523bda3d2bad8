// PrepareModuleInput / PrepareModuleOutput / PrepareModuleInputOutput: hooks only, no parameters.
#include <torch/nn/module.h>

#include <dtensor/nn/hooks.h>

#include "parallel/style_common.h"

namespace dtensor::parallel {
namespace {

// One argument or output (`what`): annotate plain tensors with `layout`, move to `desired`,
// optionally back to local.
at::Tensor prepare(const at::Tensor& t, const DeviceMesh& mesh, const std::optional<Placement>& layout,
                   const std::optional<Placement>& desired, bool use_local, const char* what) {
  if (!layout) return t;
  TORCH_CHECK_VALUE(t.defined(), "expecting ", what, " to be a torch.Tensor! Got an undefined tensor where the "
                    "layout ", layout->str(), " is given; use nullopt in the layouts to leave it alone");
  DTensor d = is_dtensor(t) ? DTensor(t) : DTensor::from_local(t, mesh, {*layout});
  if (desired && *layout != *desired) {
    const auto view = detail::tp_view(d.device_mesh(), mesh);
    d = d.redistribute(detail::on_tp(view, *desired, &d.placements()));
  }
  return use_local ? d.to_local() : at::Tensor(d);
}

}  // namespace

void PrepareModuleInput::validate() const {
  if (!input_layouts_) return;
  TORCH_CHECK_VALUE(desired_input_layouts_.has_value(), "desired module inputs should not be None! "
                    "PrepareModuleInput got input_layouts without desired_input_layouts");
  TORCH_CHECK_VALUE(input_layouts_->size() == desired_input_layouts_->size(),
                    "input_layouts and desired_input_layouts should have same length! Got ",
                    input_layouts_->size(), " and ", desired_input_layouts_->size());
}

void PrepareModuleInput::apply(torch::nn::Module& module, const DeviceMesh& mesh, const ApplyContext&) const {
  validate();
  if (!input_layouts_) return;
  auto layouts = *input_layouts_, desired = *desired_input_layouts_;
  const bool local = use_local_output_;
  nn::register_forward_pre_hook(module, [=](torch::nn::Module&, std::vector<at::Tensor>& inputs) {
    TORCH_CHECK_VALUE(inputs.size() == layouts.size(), "module inputs and input_layouts should have same "
                      "length! Got ", inputs.size(), " tensor inputs and ", layouts.size(), " layouts (only tensor "
                      "arguments count: give one layout per tensor argument, nullopt to leave one alone)");
    for (size_t i = 0; i < inputs.size(); ++i) inputs[i] = prepare(inputs[i], mesh, layouts[i], desired[i], local, "input");
  });
}

std::string PrepareModuleInput::repr() const {
  return "PrepareModuleInput(input_layouts=" + detail::layouts_repr(input_layouts_) +
         ", desired_input_layouts=" + detail::layouts_repr(desired_input_layouts_) +
         ", use_local_output=" + detail::bool_repr(use_local_output_) + ")";
}

void PrepareModuleOutput::validate() const {
  TORCH_CHECK_VALUE(output_layouts_.has_value() && desired_output_layouts_.has_value(),
                    "PrepareModuleOutput needs both output_layouts and desired_output_layouts, but ",
                    output_layouts_ ? "desired_output_layouts" : "output_layouts", " was not set");
  TORCH_CHECK_VALUE(output_layouts_->size() == desired_output_layouts_->size(),
                    "output_layouts and desired_output_layouts should have same length! Got ",
                    output_layouts_->size(), " and ", desired_output_layouts_->size());
}

void PrepareModuleOutput::apply(torch::nn::Module& module, const DeviceMesh& mesh, const ApplyContext&) const {
  validate();
  auto layouts = *output_layouts_, desired = *desired_output_layouts_;
  const bool local = use_local_output_;
  nn::register_forward_hook(module, [=](torch::nn::Module&, const std::vector<at::Tensor>&,
                                        std::vector<at::Tensor>& outputs) {
    TORCH_CHECK_VALUE(outputs.size() == layouts.size(), "module outputs and output_layouts should have same "
                      "length! Got ", outputs.size(), " outputs and ", layouts.size(), " layouts (give one layout per "
                      "returned tensor, nullopt to leave one alone)");
    for (size_t i = 0; i < outputs.size(); ++i) outputs[i] = prepare(outputs[i], mesh, layouts[i], desired[i], local, "output");
  });
}

std::string PrepareModuleOutput::repr() const {
  return "PrepareModuleOutput(output_layouts=" + detail::layouts_repr(output_layouts_) +
         ", desired_output_layouts=" + detail::layouts_repr(desired_output_layouts_) +
         ", use_local_output=" + detail::bool_repr(use_local_output_) + ")";
}

void PrepareModuleInputOutput::validate() const {
  input_.validate();
  output_.validate();
}

void PrepareModuleInputOutput::apply(torch::nn::Module& module, const DeviceMesh& mesh,
                                     const ApplyContext& ctx) const {
  validate();
  input_.apply(module, mesh, ctx);
  output_.apply(module, mesh, ctx);
}

std::string PrepareModuleInputOutput::repr() const {
  return "PrepareModuleInputOutput(" + input_.repr() + ", " + output_.repr() + ")";
}

}  // namespace dtensor::parallel
