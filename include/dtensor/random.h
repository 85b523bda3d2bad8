// Random ops on DTensors (uniform_, normal_, bernoulli, dropout, rand_like, ...).
//
// Sharding-invariant on every device, CPU included: a random op gives every element the value
// the unsharded tensor would get, whatever the placements, mesh shape or world size, and
// replicas agree across ranks, without any communication.
//
// The generator (src/ops/random_philox.h, random_fill.h): Philox4x32-10, a counter-based
// generator keyed by the seed. Its state is (seed, offset), one per process like PyTorch's RNG
// tracker. A random op over a global tensor of N elements owns the counter blocks
// [offset, offset + ceil(N * words per element / 4)); element g (row-major index in the global
// tensor) reads its words from the block offset + g * words / 4, so each rank computes only its
// own elements. Afterwards every rank advances the offset by the op's block count. Words per
// element: 1 for float/half/bfloat16 draws (24-bit uniforms; bernoulli/dropout compare a 32-bit
// word against p), 2 for double and 64-bit integer draws; normal draws come in Box-Muller pairs
// (elements 2i and 2i+1 share the words of one pair).
//
// Consequences: the values differ from torch's CPU generator (and from PyTorch's CUDA DTensor
// values); torch::manual_seed neither affects nor is affected by DTensor random ops; every rank
// must run the same random ops on DTensors in the same order (SPMD), ranks outside a DTensor's
// mesh skip its ops and do not advance. Random ops reject Partial inputs.
#pragma once

#include <cstdint>

#include <dtensor/device_mesh.h>

namespace dtensor {

// Seeds the generator of DTensor random ops and resets its offset. Call with the same seed on
// every rank of `mesh` (no communication); this rank must belong to `mesh`. Without a call, the
// first random op on a DTensor takes the seed of torch's default CPU generator on the first rank
// of the DTensor's mesh (one broadcast per mesh dim), as PyTorch's tracker does.
void manual_seed(uint64_t seed, const DeviceMesh& mesh);

}  // namespace dtensor
