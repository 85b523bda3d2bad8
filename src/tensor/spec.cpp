#include <dtensor/spec.h>

#include <mutex>
#include <sstream>
#include <unordered_map>

#include <c10/util/Exception.h>
#include <c10/util/StringUtil.h>
#include <c10/util/hash.h>

namespace dtensor {
namespace {

struct InternKey {
  const void* mesh;
  Placements placements;
  TensorMeta meta;
  bool operator==(const InternKey& o) const {
    return mesh == o.mesh && placements == o.placements && meta == o.meta;
  }
};

struct InternHash {
  size_t operator()(const InternKey& k) const {
    size_t h = std::hash<const void*>()(k.mesh);
    for (const auto& p : k.placements) h = c10::hash_combine(h, p.hash());
    for (int64_t s : k.meta.shape) h = c10::hash_combine(h, std::hash<int64_t>()(s));
    for (int64_t s : k.meta.stride) h = c10::hash_combine(h, std::hash<int64_t>()(s) * 7);
    return c10::hash_combine(h, static_cast<size_t>(k.meta.dtype));
  }
};

// Specs are few (one per distinct layout of a program's tensors); they live as long as the
// process so that their addresses can key the sharding cache.
std::mutex g_intern_mutex;
std::unordered_map<InternKey, SpecPtr, InternHash>& intern_table() {
  static auto* table = new std::unordered_map<InternKey, SpecPtr, InternHash>();
  return *table;
}

}  // namespace

DTensorSpec::DTensorSpec(DeviceMesh mesh, Placements placements, TensorMeta meta)
    : mesh_(std::move(mesh)), placements_(std::move(placements)), meta_(std::move(meta)) {}

SpecPtr DTensorSpec::make(const DeviceMesh& mesh, Placements placements, TensorMeta meta) {
  TORCH_CHECK_VALUE(static_cast<int64_t>(placements.size()) == mesh.ndim(),
                    "`placements` must have the same length as `device_mesh.ndim`! Found "
                    "placements length: ", placements.size(), ", and device_mesh.ndim: ",
                    mesh.ndim(), ".");
  const int64_t ndim = static_cast<int64_t>(meta.shape.size());
  for (auto& p : placements) p = p.normalized(ndim);
  TORCH_INTERNAL_ASSERT(meta.stride.size() == meta.shape.size(), "stride rank differs from shape");
  InternKey key{mesh.id(), std::move(placements), std::move(meta)};
  std::lock_guard<std::mutex> lock(g_intern_mutex);
  auto& table = intern_table();
  auto it = table.find(key);
  if (it != table.end()) return it->second;
  auto spec = std::make_shared<const DTensorSpec>(mesh, key.placements, key.meta);
  table.emplace(std::move(key), spec);
  return spec;
}

SpecPtr DTensorSpec::with_placements(Placements placements) const {
  return make(mesh_, std::move(placements), meta_);
}

SpecPtr DTensorSpec::with_meta(TensorMeta meta) const {
  return make(mesh_, placements_, std::move(meta));
}

int64_t DTensorSpec::numel() const {
  int64_t n = 1;
  for (int64_t s : meta_.shape) n *= s;
  return n;
}

bool DTensorSpec::has_partial() const {
  for (const auto& p : placements_)
    if (p.is_partial()) return true;
  return false;
}

bool DTensorSpec::is_replicated() const {
  for (const auto& p : placements_)
    if (!p.is_replicate()) return false;
  return true;
}

std::vector<int64_t> DTensorSpec::mesh_dims_sharding(int64_t dim) const {
  std::vector<int64_t> dims;
  for (size_t i = 0; i < placements_.size(); ++i)
    if (placements_[i].is_shard(dim)) dims.push_back(static_cast<int64_t>(i));
  return dims;
}

std::pair<std::vector<int64_t>, std::vector<int64_t>> DTensorSpec::local_shape_and_offset(
    const std::vector<int64_t>& coordinate) const {
  std::vector<int64_t> shape = meta_.shape;
  std::vector<int64_t> offset(shape.size(), 0);
  for (size_t i = 0; i < placements_.size(); ++i) {
    if (!placements_[i].is_shard()) continue;
    const int64_t d = placements_[i].shard_dim();
    auto [size, off] = local_shard_size_and_offset(shape[d], mesh_.size(static_cast<int64_t>(i)),
                                                   coordinate[i]);
    shape[d] = size;
    offset[d] = size == 0 ? meta_.shape[d] : offset[d] + off;
  }
  return {shape, offset};
}

std::vector<int64_t> DTensorSpec::local_shape() const {
  auto coord = mesh_.get_coordinate();
  if (!coord) return std::vector<int64_t>(meta_.shape.size(), 0);
  return local_shape_and_offset(*coord).first;
}

std::vector<int64_t> DTensorSpec::local_offset() const {
  auto coord = mesh_.get_coordinate();
  if (!coord) return meta_.shape;
  return local_shape_and_offset(*coord).second;
}

std::string DTensorSpec::str() const {
  std::ostringstream os;
  os << *this;
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const DTensorSpec& spec) {
  return os << "Spec(" << spec.placements() << " on [" << c10::Join(", ", spec.shape()) << "] "
            << spec.dtype() << ")";
}

std::vector<int64_t> contiguous_strides(const std::vector<int64_t>& shape) {
  std::vector<int64_t> stride(shape.size());
  int64_t s = 1;
  for (int64_t i = static_cast<int64_t>(shape.size()) - 1; i >= 0; --i) {
    stride[i] = s;
    s *= std::max<int64_t>(shape[i], 1);
  }
  return stride;
}

}  // namespace dtensor
