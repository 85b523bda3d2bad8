// DeviceMesh: an n-d arrangement of global ranks with one process group per mesh dim.
//
// For mesh dim d the ranks are grouped by rows of mesh.swapdims(-1, d).reshape(-1, size(d)): each
// row is a process group, created collectively by every process of the world (also those not in
// the mesh), and a rank keeps the group of the row it is in. Group rank = coordinate along d.
// Slicing (mesh["tp"], mesh[{"dp","tp"}]) returns the sub-mesh holding this rank and reuses the
// parent's groups. Constructing a mesh initialises the process group if needed.
#pragma once

#include <initializer_list>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/util/intrusive_ptr.h>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>

namespace dtensor {

class DeviceMesh {  // cheap to copy (shared state), comparable
 public:
  DeviceMesh(std::string device_type, at::Tensor mesh /*int64 global ranks, any ndim*/,
             std::vector<std::string> mesh_dim_names = {});

  const std::string& device_type() const;
  const at::Tensor& mesh() const;
  const std::vector<std::string>& mesh_dim_names() const;
  int64_t ndim() const;
  std::vector<int64_t> shape() const;
  int64_t size() const;  // number of ranks in the mesh
  int64_t size(int64_t mesh_dim) const;
  int get_rank() const;  // global rank of this process
  int get_local_rank(int64_t mesh_dim) const;
  int get_local_rank(const std::string& mesh_dim_name) const;
  int get_local_rank() const;  // 1-D meshes only; otherwise a clear error
  std::optional<std::vector<int64_t>> get_coordinate() const;  // nullopt: rank not in mesh
  c10::intrusive_ptr<c10d::ProcessGroup> get_group(int64_t mesh_dim) const;
  // 1-D meshes only (PyTorch's mesh_dim=None); otherwise a clear error: on an N-D mesh a silent
  // default dim would run collectives over the wrong ranks.
  c10::intrusive_ptr<c10d::ProcessGroup> get_group() const;
  c10::intrusive_ptr<c10d::ProcessGroup> get_group(const std::string& mesh_dim_name) const;
  DeviceMesh operator[](const std::string& mesh_dim_name) const;  // sub-mesh holding this rank
  DeviceMesh operator[](const std::vector<std::string>& mesh_dim_names) const;
  DeviceMesh operator[](std::initializer_list<std::string> mesh_dim_names) const;
  bool operator==(const DeviceMesh& other) const;  // value: device type, rank tensor, dim names
  bool operator!=(const DeviceMesh& other) const { return !(*this == other); }

  // ---- beyond PyTorch's surface ------------------------------------------------------------
  // Index of a named mesh dim; a clear error listing the names when unknown.
  int64_t mesh_dim_index(const std::string& mesh_dim_name) const;
  // The device local shards live on: cpu, or this process's cuda device.
  c10::Device device() const;
  // True when this process is one of the mesh's ranks.
  bool contains_this_rank() const { return get_coordinate().has_value(); }
  // Identity of the shared state: equal meshes built separately have different ids.
  const void* id() const { return impl_.get(); }

  struct Impl;

 private:
  explicit DeviceMesh(std::shared_ptr<const Impl> impl);
  std::shared_ptr<const Impl> impl_;
};

DeviceMesh init_device_mesh(const std::string& device_type, std::vector<int64_t> mesh_shape,
                            std::vector<std::string> mesh_dim_names = {});
std::ostream& operator<<(std::ostream& os, const DeviceMesh& mesh);

}  // namespace dtensor
