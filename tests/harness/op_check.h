// Table-driven checks of ops on DTensors against the same op on plain tensors.
//
// For an OpCase (global inputs, the op as a function of its tensor arguments), check_op runs the
// op once on the plain inputs (the reference) and then for every placement combination of the
// inputs on the mesh (Replicate, Shard(d) for every dim, and Partial(sum) built from random
// summands), distributing the inputs, running the op, and comparing every output's full_tensor()
// and every floating input's gradient (from a fixed random upstream gradient) with the
// reference. On 2-D meshes a deterministic sample of the combinations is used. Every rank runs
// the same cases in the same order (inputs come from a fixed seed).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include <dtensor/device_mesh.h>
#include <dtensor/placement.h>

namespace dtensor::testing {

struct OpCase {
  std::string name;                                   // "aten::add" style, for messages
  std::vector<at::Tensor> inputs;                     // global inputs
  std::function<std::vector<at::Tensor>(const std::vector<at::Tensor>&)> fn;
  bool check_grads = true;                            // for floating inputs
  bool allow_partial_inputs = true;                   // try Partial(sum) inputs
  std::vector<size_t> replicated_only;                // inputs kept Replicate (e.g. index tensors)
  double rtol = 1e-4, atol = 1e-5;
  size_t max_cases = 64;                              // sample size per case on big meshes
  // Placement combinations for which the op must raise c10::Error (e.g. strict views of uneven
  // shards); such cases count as checked when they raise.
  std::function<bool(const std::vector<Placements>&, const DeviceMesh&)> raises;
};

// Runs the case on `mesh`; returns the number of placement combinations checked. Failures are
// reported with the op name, the placements and the mismatch.
int64_t check_op(const OpCase& c, const DeviceMesh& mesh);

// Totals per test binary; printed at exit as "[op_check] N (op, placement) cases checked".
void report_op_cases(const std::string& family, int64_t cases);

}  // namespace dtensor::testing
