// The DTensor generator's state: (seed, offset), one per process (see dtensor/random.h).
#include <mutex>

#include <ATen/CPUGeneratorImpl.h>

#include <dtensor/comm.h>
#include <dtensor/random.h>

#include "ops/random_fill.h"

namespace dtensor {
namespace {

struct State {
  std::mutex mutex;
  bool seeded = false;
  uint64_t seed = 0;
  uint64_t offset = 0;  // next free Philox block
};

State& state() {
  static auto* s = new State();  // used until exit, also from static destructors' ops
  return *s;
}

// Rank (0, ..., 0) of the mesh decides: broadcast along each mesh dim in turn reaches everyone.
uint64_t seed_from_first_rank(const DeviceMesh& mesh) {
  uint64_t seed = at::detail::getDefaultCPUGenerator().current_seed();
  auto t = at::tensor({static_cast<int64_t>(seed)}, at::kLong);
  for (int64_t m = 0; m < mesh.ndim(); ++m) t = comm::broadcast(t, 0, mesh.get_group(m));
  return static_cast<uint64_t>(t.item<int64_t>());
}

}  // namespace

void manual_seed(uint64_t seed, const DeviceMesh& mesh) {
  TORCH_CHECK(mesh.contains_this_rank(), "manual_seed requires the current rank to be a part of "
              "the device mesh otherwise DTensor RNG state on the rank will not be initialized and "
              "the behavior of DTensor random ops is undefined. Rank ", mesh.get_rank(),
              " is not in ", mesh, ".");
  auto& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  s.seeded = true;
  s.seed = seed;
  s.offset = 0;
}

namespace random {

Stream reserve_stream(const DeviceMesh& mesh, uint64_t blocks) {
  auto& s = state();
  std::unique_lock<std::mutex> lock(s.mutex);
  if (!s.seeded) {
    lock.unlock();  // a collective: never under the lock
    const uint64_t seed = seed_from_first_rank(mesh);
    lock.lock();
    if (!s.seeded) {
      s.seeded = true;
      s.seed = seed;
      s.offset = 0;
    }
  }
  Stream stream{PhiloxKey::from_seed(s.seed), s.offset};
  s.offset += blocks;
  return stream;
}

int64_t ShardLayout::global_numel() const {
  int64_t n = 1;
  for (int64_t x : global_shape) n *= x;
  return n;
}

int64_t ShardLayout::local_numel() const {
  int64_t n = 1;
  for (int64_t x : local_shape) n *= x;
  return n;
}

}  // namespace random
}  // namespace dtensor
