// Lookup side of the rule registry (registration is in include/dtensor/ops/rule.h).
#pragma once

#include <dtensor/ops/rule.h>

namespace dtensor::detail {

struct RuleEntry {
  ops::Rule rule;
  ops::RuleOptions options;
};

// nullptr when the op has no rule.
const RuleEntry* find_rule(const c10::OperatorName& name);

}  // namespace dtensor::detail
