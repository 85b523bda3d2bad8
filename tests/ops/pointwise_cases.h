// Helpers of the pointwise and tensor-op tables: ops called by their registered overload name (so
// every registered variant is exercised exactly), each expanded into its functional, in-place and
// out= forms.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

#include <dtensor/device_mesh.h>
#include <dtensor/placement.h>

#include "harness/op_check.h"

namespace dtensor::testing {

using Tensors = std::vector<at::Tensor>;
using NamedArgs = std::vector<std::pair<std::string, c10::IValue>>;

// Calls "aten::name.overload" through the dispatcher (autograd included) with arguments by
// schema name; absent arguments take their defaults. Returns the first tensor result.
at::Tensor call_op(const std::string& full_name, const NamedArgs& args);

// What an in-place variant does to a Partial `self`.
enum class InplacePartial {
  Reduces,  // the op cannot keep it: the call must raise (self keeps its placements)
  Keeps,    // the op keeps it; operands in `followers` must become the same Partial, which a
            // Shard operand cannot (Shard -> Partial does not exist): that raises
};

// One op with up to three variants sharing tensor inputs (bound to `tensor_args` names, input 0
// being `self`, which has the result's shape when in-place or out= variants exist).
struct Variants {
  std::string functional, inplace, out;  // full op names; "" when absent
  std::vector<std::string> tensor_args;
  Tensors inputs;
  NamedArgs scalars;                     // non-tensor arguments
  std::string out_arg = "out";
  InplacePartial inplace_partial = InplacePartial::Reduces;
  std::vector<size_t> followers;
  bool grads = true;
  bool partial_inputs = true;
  bool emit_functional = true;           // false: `functional` only gives the out= dtype
  double rtol = 1e-4, atol = 1e-5;
};

// Appends the OpCases of `v` (functional, in-place on a clone of input 0, out= into an empty
// tensor laid out like input 0).
void add_variants(std::vector<OpCase>& cases, const Variants& v);

// Runs `cases` on a 1-D mesh of every rank, and on a 2x2 mesh when the world has 4 ranks (sampled
// to `max_cases_2d` combinations per case); prints and returns the number of cases checked.
int64_t run_op_table(const std::string& family, int world, const std::vector<OpCase>& cases,
                     size_t max_cases_1d, size_t max_cases_2d);

}  // namespace dtensor::testing
