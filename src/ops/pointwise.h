// The pointwise strategy, shared with families that contain pointwise-like ops.
#pragma once

#include <initializer_list>

#include <dtensor/ops/rule.h>

namespace dtensor::ops {

enum class Linearity {
  None,              // Partial operands are reduced first
  Additive,          // add/sub: P(sum|avg) operands add up, Replicate ones become Partial
  Scaling,           // mul: one P(sum|avg) factor, the others Replicate
  ScalingNumerator,  // div: as Scaling, the Partial operand being the numerator
  Unary,             // neg, zero_, scalar factor: P(sum|avg) passes through
};

std::vector<OpStrategy> pointwise_strategies(const OpCall& call, Linearity lin);
void register_pointwise(std::initializer_list<const char*> names, Linearity lin);

}  // namespace dtensor::ops
