#include <dtensor/device_mesh.h>

#include <algorithm>
#include <numeric>
#include <set>

#include <dtensor/runtime.h>

namespace dtensor {

struct DeviceMesh::Impl {
  std::string device_type;
  at::Tensor mesh;  // int64, CPU, contiguous
  std::vector<std::string> names;
  int rank = 0;
  std::optional<std::vector<int64_t>> coordinate;
  std::vector<c10::intrusive_ptr<c10d::ProcessGroup>> groups;  // per mesh dim; null off-mesh
};

namespace {

void check_device_type(const std::string& device_type) {
  TORCH_CHECK_VALUE(device_type.find(':') == std::string::npos,
                    "Device type with index is not supported but got ", device_type,
                    ". Pass the type only (e.g. \"cuda\"); each process uses its local device.");
  TORCH_CHECK_VALUE(device_type == "cpu" || device_type == "cuda",
                    "unsupported mesh device type '", device_type, "': expected cpu or cuda");
}

void check_names(const std::vector<std::string>& names, int64_t ndim) {
  if (names.empty()) return;
  TORCH_CHECK_VALUE(static_cast<int64_t>(names.size()) == ndim,
                    "mesh_shape and mesh_dim_names should have same length! Found ", ndim,
                    " mesh dims and ", names.size(), " names");
  std::set<std::string> unique(names.begin(), names.end());
  TORCH_CHECK_VALUE(unique.size() == names.size(), "Each mesh_dim_name must be unique. Found [",
                    c10::Join(", ", names), "]");
}

std::vector<int64_t> coordinate_of(const at::Tensor& mesh, int rank) {
  auto flat = mesh.flatten();
  const int64_t* data = flat.data_ptr<int64_t>();
  for (int64_t i = 0; i < flat.numel(); ++i) {
    if (data[i] != rank) continue;
    std::vector<int64_t> coord(mesh.dim());
    for (int64_t d = mesh.dim() - 1; d >= 0; --d) {
      coord[d] = i % mesh.size(d);
      i /= mesh.size(d);
    }
    return coord;
  }
  return {};
}

std::vector<int> to_ranks(const at::Tensor& row) {
  auto r = row.contiguous();
  return std::vector<int>(r.data_ptr<int64_t>(), r.data_ptr<int64_t>() + r.numel());
}

}  // namespace

DeviceMesh::DeviceMesh(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

DeviceMesh::DeviceMesh(std::string device_type, at::Tensor mesh,
                       std::vector<std::string> mesh_dim_names) {
  check_device_type(device_type);
  TORCH_CHECK_VALUE(mesh.device().is_cpu(), "`mesh` must be a CPU tensor, got ", mesh.device());
  TORCH_CHECK_VALUE(!at::isFloatingType(mesh.scalar_type()) && mesh.scalar_type() != at::kBool,
                    "`mesh` must hold integer ranks, got ", mesh.scalar_type());
  TORCH_CHECK_VALUE(mesh.dim() >= 1 && mesh.numel() >= 1, "`mesh` must have at least one rank");
  check_names(mesh_dim_names, mesh.dim());
  if (!is_initialized()) init_process_group();

  auto impl = std::make_shared<Impl>();
  impl->device_type = std::move(device_type);
  impl->mesh = mesh.to(at::kLong).contiguous().clone();
  impl->names = std::move(mesh_dim_names);
  impl->rank = dtensor::get_rank();
  const int world = get_world_size();
  TORCH_CHECK(impl->mesh.numel() <= world, "Mesh should not be bigger than default world size ",
              world, ", but found ", impl->mesh.numel(), " ranks!");
  auto sorted = std::get<0>(impl->mesh.flatten().sort());
  TORCH_CHECK_VALUE(sorted.numel() < 2 || (sorted.slice(0, 1) != sorted.slice(0, 0, -1)).all().item<bool>(),
                    "`mesh` must not repeat a rank: ", impl->mesh);
  TORCH_CHECK_VALUE(sorted[0].item<int64_t>() >= 0 && sorted[-1].item<int64_t>() < world,
                    "`mesh` holds ranks outside the world [0, ", world, "): ", impl->mesh);

  auto coord = coordinate_of(impl->mesh, impl->rank);
  if (!coord.empty()) impl->coordinate = coord;
  // Every process creates every row's group (the backends need all of them to agree on group
  // ids), keeping the one it belongs to.
  impl->groups.resize(impl->mesh.dim());
  for (int64_t d = 0; d < impl->mesh.dim(); ++d) {
    auto rows = impl->mesh.swapdims(-1, d).reshape({-1, impl->mesh.size(d)});
    for (int64_t r = 0; r < rows.size(0); ++r) {
      auto group = new_group(to_ranks(rows[r]));
      if (group) impl->groups[d] = group;
    }
  }
  impl_ = std::move(impl);
}

const std::string& DeviceMesh::device_type() const { return impl_->device_type; }
const at::Tensor& DeviceMesh::mesh() const { return impl_->mesh; }
const std::vector<std::string>& DeviceMesh::mesh_dim_names() const { return impl_->names; }
int64_t DeviceMesh::ndim() const { return impl_->mesh.dim(); }
std::vector<int64_t> DeviceMesh::shape() const { return impl_->mesh.sizes().vec(); }
int64_t DeviceMesh::size() const { return impl_->mesh.numel(); }
int DeviceMesh::get_rank() const { return impl_->rank; }
std::optional<std::vector<int64_t>> DeviceMesh::get_coordinate() const { return impl_->coordinate; }

int64_t DeviceMesh::size(int64_t mesh_dim) const {
  TORCH_CHECK_INDEX(mesh_dim >= -ndim() && mesh_dim < ndim(), "mesh dim ", mesh_dim,
                    " is out of range for a ", ndim(), "-D mesh");
  return impl_->mesh.size(mesh_dim);
}

int64_t DeviceMesh::mesh_dim_index(const std::string& name) const {
  TORCH_CHECK(!impl_->names.empty(), "Cannot slice a DeviceMesh without mesh_dim_names! Name the "
              "dims in init_device_mesh(..., mesh_dim_names)");
  auto it = std::find(impl_->names.begin(), impl_->names.end(), name);
  TORCH_CHECK_INDEX(it != impl_->names.end(), "Invalid mesh_dim_names '", name,
                    "'. Valid mesh_dim_names are [", c10::Join(", ", impl_->names), "]");
  return it - impl_->names.begin();
}

int DeviceMesh::get_local_rank(int64_t mesh_dim) const {
  TORCH_CHECK_INDEX(mesh_dim >= -ndim() && mesh_dim < ndim(), "mesh dim ", mesh_dim,
                    " is out of range for a ", ndim(), "-D mesh");
  TORCH_CHECK(impl_->coordinate, "rank ", impl_->rank, " is not part of the mesh ", *this);
  return static_cast<int>((*impl_->coordinate)[mesh_dim < 0 ? mesh_dim + ndim() : mesh_dim]);
}

int DeviceMesh::get_local_rank(const std::string& name) const {
  return get_local_rank(mesh_dim_index(name));
}

int DeviceMesh::get_local_rank() const {
  TORCH_CHECK(ndim() == 1, "Optional kwarg `mesh_dim` needs to be specified when device_mesh.ndim > 1. "
              "This mesh is ", ndim(), "-D: pass the mesh dim (index or name) to get_local_rank");
  return get_local_rank(0);
}

c10::intrusive_ptr<c10d::ProcessGroup> DeviceMesh::get_group(int64_t mesh_dim) const {
  TORCH_CHECK_INDEX(mesh_dim >= -ndim() && mesh_dim < ndim(), "mesh dim ", mesh_dim,
                    " is out of range for a ", ndim(), "-D mesh");
  return impl_->groups[mesh_dim < 0 ? mesh_dim + ndim() : mesh_dim];
}

c10::intrusive_ptr<c10d::ProcessGroup> DeviceMesh::get_group() const {
  TORCH_CHECK(ndim() == 1, "Optional kwarg `mesh_dim` needs to be specified when device_mesh.ndim > 1. "
              "This mesh is ", ndim(), "-D: pass the mesh dim (index or name) to get_group");
  return get_group(0);
}

c10::intrusive_ptr<c10d::ProcessGroup> DeviceMesh::get_group(const std::string& name) const {
  return get_group(mesh_dim_index(name));
}

DeviceMesh DeviceMesh::operator[](const std::string& name) const {
  return (*this)[std::vector<std::string>{name}];
}

DeviceMesh DeviceMesh::operator[](std::initializer_list<std::string> names) const {
  return (*this)[std::vector<std::string>(names)];
}

DeviceMesh DeviceMesh::operator[](const std::vector<std::string>& names) const {
  TORCH_CHECK(!impl_->names.empty(), "Cannot slice a DeviceMesh without mesh_dim_names! Name the "
              "dims in init_device_mesh(..., mesh_dim_names)");
  TORCH_CHECK_VALUE(!names.empty(), "slicing a DeviceMesh needs at least one mesh_dim_name");
  if (names == impl_->names) return *this;
  TORCH_CHECK(impl_->coordinate, "rank ", impl_->rank,
              " is not part of the mesh, so it has no sub-mesh: ", *this);
  std::vector<int64_t> kept;
  for (const auto& n : names) {
    int64_t d = mesh_dim_index(n);
    TORCH_CHECK_VALUE(std::find(kept.begin(), kept.end(), d) == kept.end(),
                      "mesh dim name '", n, "' is repeated in the slice");
    kept.push_back(d);
  }
  // Fix this rank's coordinate on every dropped dim; keep the named dims in the order given.
  std::vector<int64_t> order = kept;
  for (int64_t d = 0; d < ndim(); ++d)
    if (std::find(kept.begin(), kept.end(), d) == kept.end()) order.push_back(d);
  at::Tensor sub = impl_->mesh.permute(order);
  for (size_t i = kept.size(); i < order.size(); ++i)
    sub = sub.select(static_cast<int64_t>(kept.size()), (*impl_->coordinate)[order[i]]);

  auto impl = std::make_shared<Impl>();
  impl->device_type = impl_->device_type;
  impl->mesh = sub.contiguous();
  impl->names = names;
  impl->rank = impl_->rank;
  impl->coordinate = std::vector<int64_t>();
  for (int64_t d : kept) {
    impl->coordinate->push_back((*impl_->coordinate)[d]);
    impl->groups.push_back(impl_->groups[d]);
  }
  return DeviceMesh(std::move(impl));
}

bool DeviceMesh::operator==(const DeviceMesh& other) const {
  if (impl_ == other.impl_) return true;
  return impl_->device_type == other.impl_->device_type && impl_->names == other.impl_->names &&
         impl_->mesh.sizes() == other.impl_->mesh.sizes() && impl_->mesh.equal(other.impl_->mesh);
}

c10::Device DeviceMesh::device() const {
  if (impl_->device_type == "cpu") return c10::Device(c10::kCPU);
  return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(dtensor::get_local_rank()));
}

DeviceMesh init_device_mesh(const std::string& device_type, std::vector<int64_t> mesh_shape,
                            std::vector<std::string> mesh_dim_names) {
  check_device_type(device_type);
  TORCH_CHECK_VALUE(!mesh_shape.empty(), "init_device_mesh: mesh_shape must not be empty");
  check_names(mesh_dim_names, static_cast<int64_t>(mesh_shape.size()));
  for (int64_t s : mesh_shape)
    TORCH_CHECK_VALUE(s >= 1, "init_device_mesh: mesh_shape entries must be >= 1, got [",
                      c10::Join(", ", mesh_shape), "]");
  const int64_t n = std::accumulate(mesh_shape.begin(), mesh_shape.end(), int64_t{1},
                                    std::multiplies<int64_t>());
  return DeviceMesh(device_type, at::arange(n, at::kLong).view(mesh_shape),
                    std::move(mesh_dim_names));
}

std::ostream& operator<<(std::ostream& os, const DeviceMesh& mesh) {
  auto m = mesh.mesh();
  os << "DeviceMesh('" << mesh.device_type() << "', ";
  // Nested list rendering of the rank tensor, e.g. [[0, 1], [2, 3]].
  std::function<void(const at::Tensor&)> print = [&](const at::Tensor& t) {
    os << '[';
    for (int64_t i = 0; i < t.size(0); ++i) {
      if (i) os << ", ";
      if (t.dim() == 1) os << t[i].item<int64_t>();
      else print(t[i]);
    }
    os << ']';
  };
  print(m);
  if (!mesh.mesh_dim_names().empty()) {
    os << ", mesh_dim_names=(";
    for (size_t i = 0; i < mesh.mesh_dim_names().size(); ++i)
      os << (i ? ", " : "") << "'" << mesh.mesh_dim_names()[i] << "'";
    os << ")";
  }
  return os << ")";
}

}  // namespace dtensor
