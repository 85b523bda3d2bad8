#include "ops/random_philox.h"

namespace dtensor::random {
namespace {

constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;

}  // namespace

// Fixed-size lane loops: vectorised even under -O2's cheap cost model.
__attribute__((target_clones("arch=skylake-avx512", "avx2", "default")))
void philox_blocks(uint64_t first, int64_t count, PhiloxKey key, uint32_t* out) {
  for (int64_t g = 0; g < count; g += kLanes) {
    uint32_t c0[kLanes], c1[kLanes], c2[kLanes], c3[kLanes];
    for (int i = 0; i < kLanes; ++i) {
      const uint64_t b = first + static_cast<uint64_t>(g + i);
      c0[i] = static_cast<uint32_t>(b);
      c1[i] = static_cast<uint32_t>(b >> 32);
      c2[i] = 0;
      c3[i] = 0;
    }
    uint32_t k0 = key.k0, k1 = key.k1;
    for (int r = 0; r < 10; ++r) {
      for (int i = 0; i < kLanes; ++i) {
        const uint64_t p0 = uint64_t{kM0} * c0[i], p1 = uint64_t{kM1} * c2[i];
        const uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c1[i] ^ k0;
        const uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c3[i] ^ k1;
        c1[i] = static_cast<uint32_t>(p1);
        c3[i] = static_cast<uint32_t>(p0);
        c0[i] = n0;
        c2[i] = n2;
      }
      k0 += kW0;
      k1 += kW1;
    }
    uint32_t* o = out + g * kBlockWords;
    for (int i = 0; i < kLanes; ++i) {
      o[4 * i] = c0[i];
      o[4 * i + 1] = c1[i];
      o[4 * i + 2] = c2[i];
      o[4 * i + 3] = c3[i];
    }
  }
}

}  // namespace dtensor::random
