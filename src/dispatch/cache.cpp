// The sharding decision cache and its key.
#include <atomic>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include <c10/util/hash.h>

#include "dispatch/decision.h"
#include "dispatch/registry.h"
#include "util/log.h"

namespace dtensor {
namespace detail {
namespace {

struct KeyHash {
  size_t operator()(const CacheKey& k) const { return k.hash; }
};
using DecisionMap = std::unordered_map<CacheKey, std::shared_ptr<const Decision>, KeyHash>;

// Bounded: a program that keeps producing new layouts (e.g. ever-changing sequence lengths) must
// not grow memory forever. Past the limit the cache starts over.
constexpr size_t kMaxEntries = 1 << 16;

// The shared map, and its generation: bumped whenever the map is cleared.
std::mutex g_cache_mutex;
DecisionMap g_cache;
std::atomic<uint64_t> g_generation{0};
std::atomic<int64_t> g_hits{0}, g_misses{0};

// In steady state every call is a hit, so each thread keeps the decisions it has used in a map of
// its own: a hit takes no lock and no reference count. The thread's entries own their decisions,
// so a decision stays alive while its thread uses it even if the shared map is cleared meanwhile;
// they are dropped (after a clear: new generation) only when no kernel call is in progress on
// the thread.
struct ThreadCache {
  uint64_t generation = 0;
  int active_calls = 0;
  DecisionMap decisions;
  std::unordered_map<const void*, const RuleEntry*> rules;  // by schema address
};

ThreadCache& thread_cache() {
  thread_local ThreadCache cache;
  return cache;
}

// Rules looked up by schema address: the hot path must not hash operator names.
const RuleEntry* rule_for(const c10::OperatorHandle& op) {
  auto& seen = thread_cache().rules;
  const void* id = &op.schema();
  auto it = seen.find(id);
  if (it != seen.end()) return it->second;
  const RuleEntry* entry = find_rule(op.schema().operator_name());
  if (entry != nullptr) seen.emplace(id, entry);
  return entry;
}

// Lists are tested last, and only through isList() first: isTensorList/isIntList are out-of-line
// calls and this runs for every non-tensor argument of every op.
int64_t type_tag(const c10::IValue& v) {
  if (v.isNone()) return 1;
  if (v.isInt()) return 2;
  if (v.isDouble()) return 3;
  if (v.isBool()) return 4;
  if (v.isComplexDouble()) return 5;
  if (v.isList()) return v.isTensorList() ? 6 : v.isIntList() ? 7 : 8;
  if (v.isString()) return 9;
  if (v.isDevice()) return 10;
  return 11;
}

void push_value(const c10::IValue& v, c10::SmallVector<int64_t, 12>& words) {
  if (v.isInt()) {
    words.push_back(v.toInt());
  } else if (v.isDouble()) {
    double d = v.toDouble();
    int64_t bits;
    std::memcpy(&bits, &d, sizeof(bits));
    words.push_back(bits);
  } else if (v.isBool()) {
    words.push_back(v.toBool());
  } else if (v.isList() && v.isIntList()) {
    auto list = v.toIntList();
    words.push_back(static_cast<int64_t>(list.size()));
    for (int64_t x : list) words.push_back(x);
  } else if (v.isString()) {
    words.push_back(static_cast<int64_t>(std::hash<std::string>()(v.toStringRef())));
  } else if (v.isDevice()) {
    words.push_back(static_cast<int64_t>(v.toDevice().type()) * 1024 + v.toDevice().index());
  } else if (v.isList()) {
    const auto& list = v.toListRef();
    words.push_back(static_cast<int64_t>(list.size()));
    for (const auto& e : list) {
      words.push_back(type_tag(e));
      if (!e.isTensor()) push_value(e, words);
    }
  } else if (v.isComplexDouble()) {
    auto c = v.toComplexDouble();
    double parts[2] = {c.real(), c.imag()};
    int64_t bits[2];
    std::memcpy(bits, parts, sizeof(bits));
    words.push_back(bits[0]);
    words.push_back(bits[1]);
  }
}

}  // namespace

void make_cache_key(const c10::OperatorHandle& op, c10::ArrayRef<c10::IValue> args,
                    const CallInputs& inputs, CacheKey& key) {
  key.op = &op.schema();
  key.specs.clear();
  for (const SpecPtr* s : inputs.specs) key.specs.push_back(s->get());
  key.words.clear();
  const RuleEntry* entry = rule_for(op);
  const std::vector<int>* key_args =
      entry && entry->options.key_args ? &*entry->options.key_args : nullptr;
  for (size_t i = 0; i < args.size(); ++i) {
    const auto& a = args[i];
    if (a.isTensor()) {
      // Its spec is in the key. A plain wrapped scalar (from a Scalar overload's decomposition)
      // promotes differently from a 0-dim tensor of the same spec.
      const auto& t = a.toTensor();
      if (t.defined() && t.unsafeGetTensorImpl()->is_wrapped_number()) key.words.push_back(-1);
      continue;
    }
    // The type always counts (int vs float scalars promote differently, None vs a value);
    // the value only for key arguments.
    const int64_t tag = type_tag(a);
    key.words.push_back(tag);
    if (tag == 6) continue;  // a TensorList: its element specs are in the key
    if (key_args == nullptr ||
        std::find(key_args->begin(), key_args->end(), static_cast<int>(i)) != key_args->end())
      push_value(a, key.words);
  }
  size_t h = std::hash<const void*>()(key.op);
  for (const void* s : key.specs) h = c10::hash_combine(h, std::hash<const void*>()(s));
  for (int64_t w : key.words) h = c10::hash_combine(h, std::hash<int64_t>()(w));
  key.hash = h;
}

KernelCallScope::KernelCallScope() { ++thread_cache().active_calls; }
KernelCallScope::~KernelCallScope() { --thread_cache().active_calls; }

const Decision* cache_lookup(const CacheKey& key) {
  auto& mine = thread_cache();
  const uint64_t generation = g_generation.load(std::memory_order_acquire);
  if (mine.generation != generation && mine.active_calls <= 1) {
    mine.decisions.clear();
    mine.generation = generation;
  }
  auto it = mine.decisions.find(key);
  if (it == mine.decisions.end()) {
    std::shared_ptr<const Decision> shared;
    {
      std::lock_guard<std::mutex> lock(g_cache_mutex);
      auto found = g_cache.find(key);
      if (found != g_cache.end()) shared = found->second;
    }
    if (!shared) {
      g_misses.fetch_add(1, std::memory_order_relaxed);
      return nullptr;
    }
    it = mine.decisions.emplace(key, std::move(shared)).first;
  }
  g_hits.fetch_add(1, std::memory_order_relaxed);
  return it->second.get();
}

void cache_insert(const CacheKey& key, std::shared_ptr<const Decision> decision) {
  {
    std::lock_guard<std::mutex> lock(g_cache_mutex);
    if (g_cache.size() >= kMaxEntries) {
      DTENSOR_WARN("dtensor: the sharding cache reached ", kMaxEntries,
                   " entries and starts over; a program that creates new layouts every step pays "
                   "propagation each time");
      g_cache.clear();
      g_generation.fetch_add(1, std::memory_order_release);
    }
    g_cache.emplace(key, decision);
  }
  thread_cache().decisions.emplace(key, std::move(decision));
}

}  // namespace detail

namespace ops {

ShardingCacheStats sharding_cache_stats() {
  std::lock_guard<std::mutex> lock(detail::g_cache_mutex);
  return {detail::g_hits.load(), detail::g_misses.load(),
          static_cast<int64_t>(detail::g_cache.size())};
}

void clear_sharding_cache() {
  std::lock_guard<std::mutex> lock(detail::g_cache_mutex);
  detail::g_cache.clear();
  detail::g_generation.fetch_add(1, std::memory_order_release);
  detail::g_hits = 0;
  detail::g_misses = 0;
}

}  // namespace ops
}  // namespace dtensor
