// The pointwise strategy, shared with families that contain pointwise-like ops.
#pragma once

#include <initializer_list>

#include <dtensor/ops/rule.h>

namespace dtensor::ops {

// Which Partial placements an op carries through without reducing them first, and what its other
// operands must then be (see pointwise.cpp for the algebra behind each row).
enum class Linearity {
  None,              // every Partial operand is reduced first
  Linear,            // jointly linear in its operands (mul.Scalar, rsub.Tensor, lerp.Scalar):
                     //   P(sum|avg), every operand the same Partial
  Unary = Linear,    // the single-operand case of Linear (a scalar factor)
  Additive,          // add/sub: as Linear; also self P(max|min) + Replicate operands
  Scaling,           // mul: one P(sum|avg) factor, the others Replicate
  ScalingNumerator,  // div, backward ops: as Scaling, the Partial operand being the first one
  Negation,          // neg: P(sum|avg) kept, P(max) <-> P(min)
  ScalarShift,       // x + c: P(avg|max|min) kept
  PositiveScaling,   // deg2rad/rad2deg: P(sum|avg|max|min) kept
  Monotone,          // non-decreasing in every operand: one P(max|min) operand, others Replicate
  MaxPreserving,     // maximum/fmax/clamp_min: P(max) operands combine; otherwise Monotone
  MinPreserving,     // minimum/fmin/clamp_max: P(min) operands combine; otherwise Monotone
  Copy,              // copy_: any Partial, the source brought to the same Partial
  Select,            // where/masked_fill.Tensor: condition/mask Replicate, values any same Partial
  ScalarFill,        // masked_fill.Scalar: P(avg|max|min), mask Replicate
};

std::vector<OpStrategy> pointwise_strategies(const OpCall& call, Linearity lin);
void register_pointwise(std::initializer_list<const char*> names, Linearity lin);

}  // namespace dtensor::ops
