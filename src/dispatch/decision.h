// What the dtensor kernel does for one (op, input specs, key arguments): computed once by
// sharding propagation, then cached.
#pragma once

#include <memory>
#include <vector>

#include <c10/util/SmallVector.h>

#include <dtensor/ops/rule.h>

namespace dtensor::detail {

struct Decision {
  std::vector<SpecPtr> input_targets;  // per input; equal pointer: no redistribution
  // Per flattened tensor output (one entry per element of a TensorList return); nullptr for an
  // undefined output.
  std::vector<SpecPtr> outputs;
  std::vector<std::vector<int64_t>> local_shapes;  // expected local shape of each output
  ops::LocalFn local;
  // For each return: the argument it aliases with write access (in-place / out=), or -1.
  std::vector<int> write_alias_arg;
  // This rank is on the inputs' mesh (a property of the mesh, so of the cached specs): decided
  // once here rather than per call, which would copy the mesh coordinate.
  bool on_mesh = true;
};

// Inputs of one call: the defined tensor arguments, TensorList elements flattened.
// `specs` point at each DTensor's own SpecPtr (no reference counting per call), or into
// `implicit` for a plain tensor taken as Replicate. They are valid while the arguments are on the
// stack, i.e. until the kernel replaces them by local tensors; CallInputs must not be copied.
struct CallInputs {
  c10::SmallVector<const SpecPtr*, 6> specs;
  c10::SmallVector<int, 6> args;  // argument index of each input
  c10::SmallVector<SpecPtr, 2> implicit;
  CallInputs() = default;
  CallInputs(const CallInputs&) = delete;
  CallInputs& operator=(const CallInputs&) = delete;
  const SpecPtr& spec(size_t k) const { return *specs[k]; }
};

// Runs the op's rule, picks the cheapest strategy, computes output metadata. Errors name the op
// and the input placements.
std::shared_ptr<const Decision> propagate(const c10::OperatorHandle& op,
                                          c10::ArrayRef<c10::IValue> args,
                                          const CallInputs& inputs);

// Cache of decisions keyed by (op, input spec addresses, key arguments).
struct CacheKey {
  const void* op = nullptr;
  c10::SmallVector<const void*, 6> specs;
  c10::SmallVector<int64_t, 12> words;  // key argument values and argument type tags
  size_t hash = 0;
  bool operator==(const CacheKey& o) const {
    return hash == o.hash && op == o.op && specs == o.specs && words == o.words;
  }
};

// Fills `key` for this call (the op's rule says which arguments are keys).
void make_cache_key(const c10::OperatorHandle& op, c10::ArrayRef<c10::IValue> args,
                    const CallInputs& inputs, CacheKey& key);

// The decision for `key`, or nullptr (a miss: propagate, then cache_insert). The pointer stays
// valid until the calling thread's outermost kernel call returns, whatever other threads do.
const Decision* cache_lookup(const CacheKey& key);
void cache_insert(const CacheKey& key, std::shared_ptr<const Decision> decision);

// Kernel calls in progress on this thread (RAII): a thread's cached decisions are only dropped
// when none is, so the pointers cache_lookup returned stay valid.
class KernelCallScope {
 public:
  KernelCallScope();
  ~KernelCallScope();
  KernelCallScope(const KernelCallScope&) = delete;
  KernelCallScope& operator=(const KernelCallScope&) = delete;
};

}  // namespace dtensor::detail
