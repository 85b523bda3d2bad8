// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11): a
// counter-based generator. Block b of a stream with key k is philox(counter = (lo32 b, hi32 b,
// 0, 0), key = (lo32 k, hi32 k)), four 32-bit words. Any block is computed directly from its
// index, which is what makes DTensor random ops sharding-invariant: every rank computes exactly
// the blocks of its own elements. Same constants and round structure as Random123 and ATen's
// at::Philox4_32 (the tests cross-check the two).
//
// philox_blocks computes blocks in groups of kLanes independent counters held as structure of
// arrays, so the compiler turns each round into SIMD 32x32->64 multiplies (target_clones
// provides AVX-512/AVX2 variants chosen at load time).
#pragma once

#include <cstdint>

namespace dtensor::random {

constexpr int kLanes = 16;       // counters per SIMD group
constexpr int kBlockWords = 4;   // 32-bit words per Philox block

struct PhiloxKey {
  uint32_t k0, k1;
  static PhiloxKey from_seed(uint64_t seed) {
    return {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)};
  }
};

// Writes the 4 words of blocks first .. first + count - 1 to out[0 .. 4 * count), block-major.
// `count` is rounded up to a multiple of kLanes: `out` must hold 4 * round_up(count, kLanes) words.
void philox_blocks(uint64_t first, int64_t count, PhiloxKey key, uint32_t* out);

// One block, scalar (reference and tests).
inline void philox_block(uint64_t block, PhiloxKey key, uint32_t out[4]) {
  uint32_t c0 = static_cast<uint32_t>(block), c1 = static_cast<uint32_t>(block >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = key.k0, k1 = key.k1;
  for (int r = 0; r < 10; ++r) {
    const uint64_t p0 = uint64_t{0xD2511F53} * c0, p1 = uint64_t{0xCD9E8D57} * c2;
    const uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c1 ^ k0;
    const uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c3 ^ k1;
    c1 = static_cast<uint32_t>(p1);
    c3 = static_cast<uint32_t>(p0);
    c0 = n0;
    c2 = n2;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

}  // namespace dtensor::random
