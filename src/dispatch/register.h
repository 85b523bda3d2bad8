// Installs the dtensor kernel for the PrivateUse1 key on every aten op that does not decompose
// (ops with a CompositeImplicitAutograd kernel reach us as their parts). A per-op registration is
// needed: a fallback loses to CompositeExplicitAutograd kernels.
#pragma once

namespace dtensor::detail {
void ensure_kernels_registered();
}
