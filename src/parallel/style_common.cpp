#include "parallel/style_common.h"

#include <c10/util/StringUtil.h>

namespace dtensor::parallel::detail {

void prepare_input(std::vector<at::Tensor>& inputs, const DeviceMesh& mesh, const Placement& input_layout,
                   const Placement& desired, const char* style) {
  TORCH_CHECK_VALUE(!inputs.empty() && inputs[0].defined(), style,
                    ": the module's forward needs a tensor as its first argument");
  at::Tensor x = inputs[0];
  if (!is_dtensor(x)) x = DTensor::from_local(x, mesh, {input_layout});
  if (input_layout != desired) x = DTensor(x).redistribute({desired}, RedistributeOptions{/*async_op=*/true});
  inputs[0] = x;
}

void prepare_output(std::vector<at::Tensor>& outputs, const Placement& output_layout, bool use_local_output) {
  DTensor out(outputs[0]);
  if (out.placements() != Placements{output_layout}) {
    out = out.redistribute({output_layout}, RedistributeOptions{/*async_op=*/true});
  }
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
