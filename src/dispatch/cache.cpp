// The sharding decision cache and its key.
//
// Decisions live in one shared map (mutex) keyed by CacheKey. In steady state every kernel call
// is a hit, and the hit path is per-op overhead the user pays on every call, so each thread also
// keeps the decisions it has used in a map of its own (ThreadCache): a hit takes no lock, no
// reference count and touches no cache line another thread writes. The thread's entries own
// their decisions, so a decision stays alive while its thread uses it even if the shared map is
// cleared meanwhile. Clearing (clear_sharding_cache, or the size bound) bumps a generation; a
// thread drops its entries on its next lookup that is not nested in another kernel call, so a
// decision pointer is never freed under a call that uses it. Hits and misses are counted per
// thread (written by their thread only), summed by sharding_cache_stats under the mutex.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <tuple>
#include <unordered_map>
#include <vector>

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

std::mutex g_cache_mutex;  // guards g_cache and counters()
DecisionMap g_cache;
std::atomic<uint64_t> g_generation{0};  // bumped whenever g_cache is cleared

struct Counters {
  std::vector<ThreadCache*> live;
  int64_t finished_hits = 0, finished_misses = 0;  // of threads that have exited
  int64_t base_hits = 0, base_misses = 0;          // totals at the last clear_sharding_cache
};
Counters& counters() {
  static auto* c = new Counters();  // never destroyed: threads may exit during static teardown
  return *c;
}

}  // namespace

struct ThreadCache {
  uint64_t generation = g_generation.load();
  int active_calls = 0;  // CacheSessions open on this thread (nested kernel calls)
  DecisionMap decisions;
  std::unordered_map<const void*, const RuleEntry*> rules;  // by schema address
  std::atomic<int64_t> hits{0}, misses{0};

  ThreadCache() {
    std::lock_guard<std::mutex> lock(g_cache_mutex);
    counters().live.push_back(this);
  }
  ~ThreadCache() {
    std::lock_guard<std::mutex> lock(g_cache_mutex);
    auto& c = counters();
    c.finished_hits += hits.load();
    c.finished_misses += misses.load();
    c.live.erase(std::find(c.live.begin(), c.live.end(), this));
  }
};

namespace {

ThreadCache& thread_cache() {
  thread_local ThreadCache cache;
  return cache;
}

// Only the owning thread writes its counters: a plain add, no locked instruction.
void bump(std::atomic<int64_t>& counter) {
  counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

std::pair<int64_t, int64_t> total_counts() {  // caller holds g_cache_mutex
  const auto& c = counters();
  int64_t hits = c.finished_hits, misses = c.finished_misses;
  for (const ThreadCache* t : c.live) {
    hits += t->hits.load(std::memory_order_relaxed);
    misses += t->misses.load(std::memory_order_relaxed);
  }
  return {hits, misses};
}

constexpr int64_t kTensorListTag = 6;

// Lists are tested last, and only through isList() first: isTensorList/isIntList are out-of-line
// calls and this runs for every non-tensor argument of every op.
int64_t type_tag(const c10::IValue& v) {
  if (v.isNone()) return 1;
  if (v.isInt()) return 2;
  if (v.isDouble()) return 3;
  if (v.isBool()) return 4;
  if (v.isComplexDouble()) return 5;
  if (v.isList()) return v.isTensorList() ? kTensorListTag : v.isIntList() ? 7 : 8;
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

void make_cache_key(const c10::OperatorHandle& op, const RuleEntry* rule,
                    c10::ArrayRef<c10::IValue> args, const CallInputs& inputs, CacheKey& key) {
  key.op = &op.schema();
  key.specs.clear();
  for (const SpecPtr* s : inputs.specs) key.specs.push_back(s->get());
  key.words.clear();
  const std::vector<int>* key_args =
      rule != nullptr && rule->options.key_args ? &*rule->options.key_args : nullptr;
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
    if (tag == kTensorListTag) continue;  // its element specs are in the key
    if (key_args == nullptr ||
        std::find(key_args->begin(), key_args->end(), static_cast<int>(i)) != key_args->end())
      push_value(a, key.words);
  }
  size_t h = std::hash<const void*>()(key.op);
  for (const void* s : key.specs) h = c10::hash_combine(h, std::hash<const void*>()(s));
  for (int64_t w : key.words) h = c10::hash_combine(h, std::hash<int64_t>()(w));
  key.hash = h;
}

CacheSession::CacheSession() : cache_(thread_cache()) { ++cache_.active_calls; }
CacheSession::~CacheSession() { --cache_.active_calls; }

// Rules looked up by schema address: the hot path must not hash operator names.
const RuleEntry* CacheSession::rule(const c10::OperatorHandle& op) {
  const void* id = &op.schema();
  auto it = cache_.rules.find(id);
  if (it != cache_.rules.end()) return it->second;
  const RuleEntry* entry = find_rule(op.schema().operator_name());
  if (entry != nullptr) cache_.rules.emplace(id, entry);
  return entry;
}

const Decision* CacheSession::lookup(const CacheKey& key) {
  const uint64_t generation = g_generation.load(std::memory_order_acquire);
  if (cache_.generation != generation && cache_.active_calls == 1) {
    cache_.decisions.clear();
    cache_.generation = generation;
  }
  auto it = cache_.decisions.find(key);
  if (it == cache_.decisions.end()) {
    std::shared_ptr<const Decision> shared;
    {
      std::lock_guard<std::mutex> lock(g_cache_mutex);
      auto found = g_cache.find(key);
      if (found != g_cache.end()) shared = found->second;
    }
    if (!shared) {
      bump(cache_.misses);
      return nullptr;
    }
    it = cache_.decisions.emplace(key, std::move(shared)).first;
  }
  bump(cache_.hits);
  return it->second.get();
}

void CacheSession::insert(const CacheKey& key, std::shared_ptr<const Decision> decision) {
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
  cache_.decisions.emplace(key, std::move(decision));
}

}  // namespace detail

namespace ops {

ShardingCacheStats sharding_cache_stats() {
  std::lock_guard<std::mutex> lock(detail::g_cache_mutex);
  const auto [hits, misses] = detail::total_counts();
  const auto& c = detail::counters();
  return {hits - c.base_hits, misses - c.base_misses, static_cast<int64_t>(detail::g_cache.size())};
}

void clear_sharding_cache() {
  std::lock_guard<std::mutex> lock(detail::g_cache_mutex);
  detail::g_cache.clear();
  detail::g_generation.fetch_add(1, std::memory_order_release);
  auto& c = detail::counters();
  std::tie(c.base_hits, c.base_misses) = detail::total_counts();
}

}  // namespace ops
}  // namespace dtensor
