// Test-side layout oracles, written with at::chunk independently of the library's own layout
// arithmetic (placement.cpp, ops/common.cpp), so a bug there cannot hide in the expectation.
#pragma once

#include <vector>

#include <ATen/ATen.h>

#include <dtensor/device_mesh.h>
#include <dtensor/placement.h>

namespace dtensor::testing {

// The block of `full` held at mesh coordinate `coord` under `placements` (Partial/Replicate keep
// everything): torch.chunk along each Shard dim, outer mesh dims first; trailing coordinates past
// the last chunk hold an empty block.
inline at::Tensor piece(const at::Tensor& full, const Placements& placements, const DeviceMesh& mesh,
                        const std::vector<int64_t>& coord) {
  at::Tensor x = full;
  for (size_t m = 0; m < placements.size(); ++m) {
    if (!placements[m].is_shard()) continue;
    const int64_t d = placements[m].normalized(x.dim()).shard_dim();
    auto chunks = x.chunk(mesh.size(static_cast<int64_t>(m)), d);
    x = coord[m] < static_cast<int64_t>(chunks.size()) ? chunks[coord[m]] : x.narrow(d, 0, 0);
  }
  return x;
}

// Every way to pick one element of each list, in row-major order (the last list varies fastest).
template <class T>
std::vector<std::vector<T>> cartesian_product(const std::vector<std::vector<T>>& lists) {
  std::vector<std::vector<T>> out{{}};
  for (const auto& list : lists) {
    std::vector<std::vector<T>> next;
    for (const auto& base : out) {
      for (const auto& x : list) {
        next.push_back(base);
        next.back().push_back(x);
      }
    }
    out = std::move(next);
  }
  return out;
}

// Every coordinate of `mesh`, in row-major order.
inline std::vector<std::vector<int64_t>> all_coordinates(const DeviceMesh& mesh) {
  std::vector<std::vector<int64_t>> ranges;
  for (int64_t m = 0; m < mesh.ndim(); ++m) {
    ranges.emplace_back();
    for (int64_t i = 0; i < mesh.size(m); ++i) ranges.back().push_back(i);
  }
  return cartesian_product(ranges);
}

// Every layout on `mesh` that picks one of `options` per mesh dim.
inline std::vector<Placements> every_layout(const std::vector<Placement>& options, const DeviceMesh& mesh) {
  return cartesian_product(std::vector<std::vector<Placement>>(mesh.ndim(), options));
}

}  // namespace dtensor::testing
