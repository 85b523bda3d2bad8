// Sharding rules: how each ATen op runs on DTensors.
//
// When an op meets DTensor arguments, the dtensor kernel asks the op's rule for candidate
// strategies. A strategy names the placements every tensor input must have and the placements
// of every tensor output. The dispatcher picks the candidate whose input redistributions move
// the fewest bytes, redistributes, runs the op on the local shards (below autograd) and wraps the
// outputs. The decision is cached per (op, input specs, key arguments), so a steady-state training
// step only hashes and looks up.
//
// Global output shapes come from running the op on meta tensors of the global input shapes; ops
// without a meta kernel state them in OpStrategy::output_meta. Ops whose local computation is not
// the op itself on local shards (views with global sizes, random ops, masked lookups) supply
// OpStrategy::local.
//
// An op without a rule fails with an error naming the op and the input placements.
#pragma once

#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/stack.h>

#include <dtensor/spec.h>

namespace dtensor::ops {

// One call of an op, as a rule sees it.
class OpCall {
 public:
  OpCall(const c10::OperatorHandle& op, c10::ArrayRef<c10::IValue> args,
         std::vector<SpecPtr> inputs, std::vector<int> input_args);

  const c10::OperatorHandle& op() const { return op_; }
  const c10::FunctionSchema& schema() const { return op_.schema(); }
  const std::string& name() const { return op_.schema().name(); }
  const std::string& overload() const { return op_.schema().overload_name(); }

  // Arguments as passed (tensors are DTensors, plain tensors or undefined).
  size_t num_args() const { return args_.size(); }
  const c10::IValue& arg(size_t i) const { return args_[i]; }
  // Argument `name` or the schema default; errors when absent.
  c10::IValue arg(const char* name) const;
  int64_t int_arg(size_t i) const { return args_[i].toInt(); }
  std::vector<int64_t> int_list_arg(size_t i) const { return args_[i].toIntVector(); }
  bool has_arg(size_t i) const { return i < args_.size() && !args_[i].isNone(); }

  // Defined tensor inputs in argument order; TensorList elements flattened.
  size_t num_inputs() const { return inputs_.size(); }
  const DTensorSpec& input(size_t k) const { return *inputs_[k]; }
  const SpecPtr& input_ptr(size_t k) const { return inputs_[k]; }
  // The argument input k belongs to.
  int input_arg(size_t k) const { return input_args_[k]; }
  // Index of the first input coming from argument `arg`, or -1 (None / not a tensor).
  int input_of_arg(int arg) const;
  const DeviceMesh& mesh() const { return inputs_.front()->mesh(); }
  int64_t mesh_ndim() const { return mesh().ndim(); }

 private:
  const c10::OperatorHandle& op_;
  c10::ArrayRef<c10::IValue> args_;
  std::vector<SpecPtr> inputs_;
  std::vector<int> input_args_;
};

// Replaces the local op call: receives the local arguments on the stack (DTensors replaced by
// their local shards, already redistributed), must leave the op's returns, like a boxed kernel.
using LocalFn = std::function<void(const c10::OperatorHandle& op, torch::jit::Stack& stack)>;

struct OpStrategy {
  std::vector<Placements> inputs;                 // per input, as in OpCall
  std::vector<std::optional<Placements>> outputs; // per tensor output, flattened; nullopt: the
                                                  // output is undefined. One entry for a
                                                  // TensorList return applies to every element.
  LocalFn local;                                  // default: the op on local shards
  std::optional<std::vector<TensorMeta>> output_meta;  // when the op has no meta kernel
};

using Rule = std::function<std::vector<OpStrategy>(const OpCall&)>;

struct RuleOptions {
  // Non-tensor arguments whose *values* change the decision (dims, sizes...). nullopt: all of
  // them. Other arguments only contribute their type (an int scalar and a float scalar promote
  // differently), so per-step values such as learning rates never fill the cache.
  std::optional<std::vector<int>> key_args;
};

// "aten::add.Tensor"; "aten::add" means the default overload. Re-registering replaces.
void register_rule(const std::string& op_name, Rule rule, RuleOptions options = {});
void register_rule(std::initializer_list<const char*> op_names, const Rule& rule,
                   const RuleOptions& options = {});
bool has_rule(const c10::OperatorName& name);

// Registers a family's rules at library load time:
//   DTENSOR_RULES(pointwise) { register_rule(...); }
#define DTENSOR_RULES(family)                                                   \
  static void dtensor_register_##family##_rules();                             \
  static const bool dtensor_##family##_registered =                            \
      (dtensor_register_##family##_rules(), true);                             \
  static void dtensor_register_##family##_rules()

// The decision cache: hits/misses since start (or the last clear) and current entries.
struct ShardingCacheStats {
  int64_t hits = 0;
  int64_t misses = 0;
  int64_t entries = 0;
};
ShardingCacheStats sharding_cache_stats();
void clear_sharding_cache();

// Placements helpers for rules.
Placements replicate(int64_t mesh_ndim);
// Placements with every Partial replaced by Replicate.
Placements without_partial(const Placements& p);
// Placements with Shard(d) for d in `dims` replaced by Replicate.
Placements unshard_dims(const Placements& p, const std::vector<int64_t>& dims);

}  // namespace dtensor::ops
