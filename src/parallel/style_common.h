// Pieces shared by the parallel styles.
#pragma once

#include <string>
#include <vector>

#include <dtensor/parallel/style.h>
#include <dtensor/tensor.h>

namespace dtensor::parallel::detail {

// Colwise/Rowwise pre-hook: a plain inputs[0] is annotated with `input_layout` (from_local, no
// communication); when the declared layout differs from `desired` it is redistributed
// (asynchronously: the collective completes when the layer first uses the input).
void prepare_input(std::vector<at::Tensor>& inputs, const DeviceMesh& mesh, const Placement& input_layout,
                   const Placement& desired, const char* style);

// Colwise/Rowwise hook: redistribute outputs[0] to `output_layout` if needed (async), then hand
// back the local tensor when `use_local_output`.
void prepare_output(std::vector<at::Tensor>& outputs, const Placement& output_layout, bool use_local_output);

std::string bool_repr(bool v);
std::string layouts_repr(const std::optional<Layouts>& l);

}  // namespace dtensor::parallel::detail
