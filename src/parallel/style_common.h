// Pieces shared by the parallel styles.
#pragma once

#include <string>
#include <vector>

#include <dtensor/parallel/style.h>
#include <dtensor/tensor.h>

namespace dtensor::parallel::detail {

// Styles are applied with a 1-D tensor-parallel mesh, but the tensors they meet may live on an N-D
// mesh that contains it as a named dim (after data_parallel lifted the parameters onto a
// (dp, tp) mesh). A style then acts on that mesh dim only and leaves the others alone.
struct TpView {
  DeviceMesh mesh;
  int64_t dim;
};
// Where `style_mesh` sits inside a DTensor's mesh.
TpView tp_view(const DeviceMesh& tensor_mesh, const DeviceMesh& style_mesh);
// Where plain inputs of `module` go: the mesh of its DTensor parameters, else the style mesh.
TpView module_view(torch::nn::Module& module, const DeviceMesh& style_mesh);
// Placements with the tensor-parallel dim set to `p` (`base` nullopt: Replicate elsewhere).
Placements on_tp(const TpView& view, const Placement& p, const Placements* base = nullptr);

// Colwise/Rowwise pre-hook: a plain inputs[0] is annotated with `input_layout` (from_local, no
// communication); when the declared layout differs from `desired` it is redistributed
// (asynchronously: the collective completes when the layer first uses the input).
void prepare_input(torch::nn::Module& module, std::vector<at::Tensor>& inputs, const DeviceMesh& mesh,
                   const Placement& input_layout, const Placement& desired, const char* style);

// Colwise/Rowwise hook: redistribute outputs[0] to `output_layout` if needed (async), then hand
// back the local tensor when `use_local_output`.
void prepare_output(std::vector<at::Tensor>& outputs, const DeviceMesh& mesh, const Placement& output_layout,
                    bool use_local_output);

std::string bool_repr(bool v);
std::string layouts_repr(const std::optional<Layouts>& l);

}  // namespace dtensor::parallel::detail
