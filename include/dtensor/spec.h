// DTensorSpec: where a DTensor lives (mesh, placements) and what it looks like globally (shape,
// stride, dtype). Specs are immutable and interned: equal specs share one object, so the op
// dispatcher compares and hashes them by address.
#pragma once

#include <memory>
#include <vector>

#include <c10/core/ScalarType.h>

#include <dtensor/device_mesh.h>
#include <dtensor/placement.h>

namespace dtensor {

struct TensorMeta {
  std::vector<int64_t> shape;
  std::vector<int64_t> stride;
  at::ScalarType dtype = at::kFloat;
  bool operator==(const TensorMeta& o) const {
    return shape == o.shape && stride == o.stride && dtype == o.dtype;
  }
};

class DTensorSpec;
using SpecPtr = std::shared_ptr<const DTensorSpec>;

class DTensorSpec {
 public:
  // Interned spec; Shard dims are normalised against the tensor's ndim; placements must have one
  // entry per mesh dim.
  static SpecPtr make(const DeviceMesh& mesh, Placements placements, TensorMeta meta);
  SpecPtr with_placements(Placements placements) const;
  SpecPtr with_meta(TensorMeta meta) const;

  const DeviceMesh& mesh() const { return mesh_; }
  const Placements& placements() const { return placements_; }
  const TensorMeta& meta() const { return meta_; }
  const std::vector<int64_t>& shape() const { return meta_.shape; }
  int64_t ndim() const { return static_cast<int64_t>(meta_.shape.size()); }
  at::ScalarType dtype() const { return meta_.dtype; }
  int64_t numel() const;

  bool has_partial() const;
  bool is_replicated() const;  // every placement Replicate
  // Mesh dims sharding tensor dim `dim`, outer to inner.
  std::vector<int64_t> mesh_dims_sharding(int64_t dim) const;
  // Local shape and global offset of this rank's piece (nested shards split left to right);
  // empty on ranks outside the mesh.
  std::vector<int64_t> local_shape() const;
  std::vector<int64_t> local_offset() const;
  // The same for an arbitrary mesh coordinate.
  std::pair<std::vector<int64_t>, std::vector<int64_t>> local_shape_and_offset(
      const std::vector<int64_t>& coordinate) const;

  std::string str() const;  // "Spec([S(0), R] on [4, 8] float)"

  DTensorSpec(DeviceMesh mesh, Placements placements, TensorMeta meta);

 private:
  DeviceMesh mesh_;
  Placements placements_;
  TensorMeta meta_;
};

std::ostream& operator<<(std::ostream& os, const DTensorSpec& spec);

// Contiguous strides for `shape`.
std::vector<int64_t> contiguous_strides(const std::vector<int64_t>& shape);

}  // namespace dtensor
