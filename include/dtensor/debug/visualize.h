// visualize_sharding: which rank holds which block of a 1-D or 2-D DTensor, as an ASCII table.
// Computed from the mesh and placements alone (no communication), so any rank can print it.
#pragma once

#include <string>

#include <ATen/core/Tensor.h>

namespace dtensor::debug {
std::string visualize_sharding(const at::Tensor& dtensor);
}
