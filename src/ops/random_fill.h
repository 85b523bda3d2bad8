// Filling a local shard with its slice of a counter-based random stream.
//
// Element g (the row-major linear index in the GLOBAL tensor) of an op's stream uses draw
// q = g / D::kPerDraw, and draw q is words [q * D::kWords, (q + 1) * D::kWords) of the op's word
// stream; word i is word i % 4 of Philox block first_block + i / 4. A rank therefore computes
// exactly the blocks covering its own elements, and every placement of the same global tensor
// gets the same values. Draws of 1, 2 or 4 words never straddle a block.
//
// A distribution D supplies kWords, kPerDraw and
//   void operator()(const uint32_t* w, int64_t sub, int64_t n, T* out) const
// writing n consecutive elements, the first being element `sub` of the draw whose words start
// at w (w advances kWords per draw). The loops are plain arrays in, arrays out, so they
// vectorise; nothing is allocated per element (a non-contiguous shard is filled through one
// contiguous temporary).
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <dtensor/device_mesh.h>

#include "ops/random_philox.h"

namespace dtensor::random {

// The slice of the counter space one op call owns.
struct Stream {
  PhiloxKey key;
  uint64_t first_block;
};

// Blocks an op over `numel` elements consumes (the same on every rank).
template <class D>
uint64_t blocks_for(int64_t numel) {
  const uint64_t draws = (static_cast<uint64_t>(numel) + D::kPerDraw - 1) / D::kPerDraw;
  return (draws * D::kWords + kBlockWords - 1) / kBlockWords;
}

// Reserves the next `blocks` blocks of the DTensor generator (src/ops/random_state.cpp). Every
// rank of `mesh` calls it for every random op, in the same order, with the same count.
Stream reserve_stream(const DeviceMesh& mesh, uint64_t blocks);

// Where a local shard sits in its global tensor.
struct ShardLayout {
  std::vector<int64_t> global_shape, local_shape, local_offset;
  int64_t global_numel() const;
  int64_t local_numel() const;
};

namespace detail {

constexpr int64_t kChunk = 1024;  // elements per generated batch (stack buffer)

template <class T, class D>
void fill_run(uint64_t g0, int64_t n, const Stream& s, const D& dist, T* out) {
  constexpr int64_t kMaxWords = (kChunk / D::kPerDraw + 2) * D::kWords + 2 * kBlockWords;
  constexpr int64_t kMaxBlocks = (kMaxWords / kBlockWords + kLanes) / kLanes * kLanes;
  alignas(64) uint32_t buf[kMaxBlocks * kBlockWords];
  while (n > 0) {
    const int64_t m = std::min(n, kChunk);
    const uint64_t q0 = g0 / D::kPerDraw, q1 = (g0 + m - 1) / D::kPerDraw + 1;
    const uint64_t w0 = q0 * D::kWords, w1 = q1 * D::kWords;
    const uint64_t b0 = w0 / kBlockWords, b1 = (w1 + kBlockWords - 1) / kBlockWords;
    philox_blocks(s.first_block + b0, static_cast<int64_t>(b1 - b0), s.key, buf);
    dist(buf + (w0 - b0 * kBlockWords), static_cast<int64_t>(g0 - q0 * D::kPerDraw), m, out);
    g0 += m;
    out += m;
    n -= m;
  }
}

}  // namespace detail

// Fills `out` (this rank's shard, dtype T, any strides) with the values of `layout`'s elements.
template <class T, class D>
void fill_shard(const at::Tensor& out, const ShardLayout& layout, const Stream& s, const D& dist) {
  const int64_t numel = layout.local_numel();
  if (numel == 0) return;
  at::Tensor dst = out.is_contiguous() ? out : at::empty(out.sizes(), out.options());
  T* data = dst.data_ptr<T>();
  const auto& gs = layout.global_shape;
  const auto& ls = layout.local_shape;
  const auto& lo = layout.local_offset;
  const int64_t ndim = static_cast<int64_t>(gs.size());
  // Trailing dims the shard covers whole merge with the first partial one into runs of
  // consecutive global indices.
  int64_t k = ndim - 1;
  while (k > 0 && ls[k] == gs[k]) --k;
  std::vector<int64_t> gstride(std::max<int64_t>(ndim, 1), 1);
  for (int64_t d = ndim - 2; d >= 0; --d) gstride[d] = gstride[d + 1] * gs[d + 1];
  const int64_t run = ndim == 0 ? 1 : ls[k] * gstride[k];
  const int64_t run_offset = ndim == 0 ? 0 : lo[k] * gstride[k];
  auto run_start = [&](int64_t r) {  // global index of run r's first element
    uint64_t g = static_cast<uint64_t>(run_offset);
    for (int64_t d = k - 1; d >= 0; --d) {
      g += static_cast<uint64_t>((r % ls[d] + lo[d]) * gstride[d]);
      r /= ls[d];
    }
    return g;
  };
  at::parallel_for(0, numel, 32768, [&](int64_t begin, int64_t end) {
    int64_t p = begin;
    while (p < end) {
      const int64_t r = p / run, j = p % run;
      const int64_t n = std::min(end - p, run - j);
      detail::fill_run<T>(run_start(r) + static_cast<uint64_t>(j), n, s, dist, data + p);
      p += n;
    }
  });
  if (!dst.is_same(out)) out.copy_(dst);
}

}  // namespace dtensor::random
