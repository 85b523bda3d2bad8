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
    // Element loops, not SmallVector's ==: these are a handful of words and memcmp is a call.
    if (hash != o.hash || op != o.op || specs.size() != o.specs.size() || words.size() != o.words.size())
      return false;
    for (size_t i = 0; i < specs.size(); ++i)
      if (specs[i] != o.specs[i]) return false;
    for (size_t i = 0; i < words.size(); ++i)
      if (words[i] != o.words[i]) return false;
    return true;
  }
};

struct RuleEntry;

// Fills `key` for this call; `rule` (from CacheSession::rule) says which arguments are keys.
void make_cache_key(const c10::OperatorHandle& op, const RuleEntry* rule,
                    c10::ArrayRef<c10::IValue> args, const CallInputs& inputs, CacheKey& key);

struct ThreadCache;

// The calling thread's share of the decision cache, for one kernel call (RAII; nested calls on
// one thread each open their own). Looks up the thread's state once per call.
class CacheSession {
 public:
  CacheSession();
  ~CacheSession();
  CacheSession(const CacheSession&) = delete;
  CacheSession& operator=(const CacheSession&) = delete;

  // The op's rule, nullptr when it has none.
  const RuleEntry* rule(const c10::OperatorHandle& op);
  // The decision for `key`, or nullptr (a miss: propagate, then insert). The pointer stays valid
  // until the thread's outermost session ends, whatever other threads do to the cache.
  const Decision* lookup(const CacheKey& key);
  void insert(const CacheKey& key, std::shared_ptr<const Decision> decision);

 private:
  ThreadCache& cache_;
};

}  // namespace dtensor::detail
