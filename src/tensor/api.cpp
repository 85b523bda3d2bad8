// DTensor handle methods, from_local, distribute_tensor, ImplicitReplicationGuard.
#include <dtensor/tensor.h>

#include <c10/util/StringUtil.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "tensor/autograd.h"
#include "tensor/dtensor_impl.h"

namespace dtensor {
namespace {

using detail::dtensor_impl;

Placements default_placements(Placements placements, const DeviceMesh& mesh) {
  if (placements.empty()) return Placements(mesh.ndim(), Replicate{});
  TORCH_CHECK_VALUE(static_cast<int64_t>(placements.size()) == mesh.ndim(),
                    "`placements` must have the same length as `device_mesh.ndim`! Found "
                    "placements length: ", placements.size(), ", and device_mesh.ndim: ",
                    mesh.ndim(), ".");
  return placements;
}

Placements normalized(Placements placements, int64_t ndim) {
  for (auto& p : placements) p = p.normalized(ndim);
  return placements;
}

// Global shape/stride of an evenly sharded tensor from its local shard (PyTorch's
// compute_global_tensor_info): each Shard(d) multiplies dim d by the mesh dim size and every
// stride at least as large as dim d's.
std::pair<std::vector<int64_t>, std::vector<int64_t>> even_global_shape(
    const at::Tensor& local, const Placements& placements, const DeviceMesh& mesh) {
  std::vector<int64_t> shape = local.sizes().vec();
  std::vector<int64_t> stride = local.strides().vec();
  for (size_t m = 0; m < placements.size(); ++m) {
    if (!placements[m].is_shard()) continue;
    const int64_t d = placements[m].shard_dim();
    const int64_t n = mesh.size(static_cast<int64_t>(m));
    const int64_t shard_stride = stride[d];
    shape[d] *= n;
    for (size_t i = 0; i < stride.size(); ++i)
      if (static_cast<int64_t>(i) != d && stride[i] >= shard_stride) stride[i] *= n;
  }
  return {shape, stride};
}

// run_check: dtype, requires_grad (and the local shape/stride when the global ones are inferred)
// must agree on every rank of the mesh. Each rank's metadata row is gathered mesh dim by mesh dim,
// every stage gathering what the previous one collected, so every rank ends up with every rank's
// row: all of them raise or none does (a partial failure would leave the others hanging in the
// broadcasts). Then each Replicate mesh dim broadcasts the shard of its coordinate 0.
at::Tensor check_and_sync(const at::Tensor& local, const DeviceMesh& mesh,
                          const Placements& placements, bool shape_given) {
  constexpr int64_t kMaxDims = 64;  // rows have a fixed width: every rank sends as many elements
  TORCH_CHECK(local.dim() <= kMaxDims, "from_local(run_check=true) supports up to ", kMaxDims,
              " dims, got ", local.dim());
  std::vector<int64_t> meta{static_cast<int64_t>(local.scalar_type()), local.requires_grad(),
                            local.dim()};
  if (!shape_given) {
    meta.insert(meta.end(), local.sizes().begin(), local.sizes().end());
    meta.insert(meta.end(), local.strides().begin(), local.strides().end());
  }
  meta.resize(3 + 2 * kMaxDims, -1);
  auto rows = at::tensor(meta, at::kLong).to(mesh.device()).unsqueeze(0);
  for (int64_t m = 0; m < mesh.ndim(); ++m) rows = comm::all_gather(rows, 0, mesh.get_group(m));
  TORCH_CHECK_VALUE((rows == rows[0]).all().item<bool>(),
                    "Inconsistent tensor metadata (including shape and stride) across ranks.");
  at::Tensor out = local;
  for (int64_t m = 0; m < mesh.ndim(); ++m)
    if (placements[m].is_replicate() && mesh.size(m) > 1) out = comm::broadcast(out, 0, mesh.get_group(m));
  return out;
}

// Group rank `src` scatters the torch.chunk pieces of `t` along dim `d`; the collective needs equal
// shapes, so short pieces are zero-padded to ceil(L / n) rows (the receiver narrows them back).
at::Tensor scatter_shards(const at::Tensor& t, int64_t d, int64_t n, int src,
                          const comm::Group& group) {
  const int64_t len = t.size(d), full = (len + n - 1) / n;
  auto sizes = t.sizes().vec();
  sizes[d] = full;
  std::vector<at::Tensor> chunks;
  if (group->getRank() == src) {
    for (int64_t r = 0; r < n; ++r) {
      auto [size, offset] = local_shard_size_and_offset(len, n, r);
      if (size == full) {
        chunks.push_back(t.narrow(d, offset, size));
        continue;
      }
      auto piece = at::zeros(sizes, t.options());
      if (size > 0) piece.narrow(d, 0, size).copy_(t.narrow(d, offset, size));
      chunks.push_back(std::move(piece));
    }
  }
  return comm::scatter(chunks, at::empty(sizes, t.options()), src, group);
}

// The DTensorImpl behind a DTensor handle. A default-constructed handle, or one whose at::Tensor
// base was assigned a plain tensor, has none: a clear error instead of a null dereference.
detail::DTensorImpl* impl_of(const at::Tensor& t) {
  auto* impl = dtensor_impl(t);
  TORCH_CHECK_TYPE(impl != nullptr, "this dtensor::DTensor handle holds ",
                   t.defined() ? c10::str("a plain tensor of shape ", t.sizes()) : std::string("no tensor"),
                   ", not a DTensor; create it with DTensor::from_local or distribute_tensor");
  return impl;
}

}  // namespace

bool is_dtensor(const at::Tensor& t) { return t.defined() && dtensor_impl(t) != nullptr; }

DTensor::DTensor(const at::Tensor& t) : at::Tensor(t) {
  TORCH_CHECK_TYPE(is_dtensor(t), "dtensor::DTensor needs a DTensor, got a plain tensor",
                   t.defined() ? c10::str(" of shape ", t.sizes()) : std::string(" (undefined)"),
                   "; create one with DTensor::from_local or distribute_tensor");
}

const DTensorSpec& DTensor::spec() const { return *impl_of(*this)->spec(); }
const DeviceMesh& DTensor::device_mesh() const { return spec().mesh(); }
const Placements& DTensor::placements() const { return spec().placements(); }
const at::Tensor& DTensor::local_tensor() const { return impl_of(*this)->local(); }

DTensor DTensor::from_local(const at::Tensor& local, const DeviceMesh& mesh, Placements placements,
                            const FromLocalOptions& options) {
  TORCH_CHECK(!is_dtensor(local), "the local_tensor argument only accepts torch.Tensor but got "
              "DTensor value.");
  TORCH_CHECK_VALUE(local.defined(), "from_local: the local tensor is undefined; pass this rank's shard "
                    "(an empty tensor if it holds none)");
  TORCH_CHECK(options.shape.has_value() == options.stride.has_value(), "Found shape:",
              options.shape ? c10::str(c10::IntArrayRef(*options.shape)) : "None", ", stride:",
              options.stride ? c10::str(c10::IntArrayRef(*options.stride)) : "None", ". ",
              "Please pass both shape and stride at the same time.");
  placements = normalized(default_placements(std::move(placements), mesh), local.dim());
  // `input` is what autograd connects to (after the device move, which has its own backward).
  const at::Tensor input = local.device() == mesh.device() ? local : local.to(mesh.device());
  at::Tensor shard = input;
  if (!mesh.contains_this_rank()) shard = at::empty({0}, input.options());

  std::vector<int64_t> shape, stride;
  if (options.shape) {
    TORCH_CHECK_VALUE(options.shape->size() == static_cast<size_t>(local.dim()) &&
                          options.stride->size() == options.shape->size(),
                      "from_local: shape and stride must have one entry per dim of the local "
                      "tensor (", local.dim(), "), got shape ", c10::IntArrayRef(*options.shape),
                      " and stride ", c10::IntArrayRef(*options.stride));
    shape = *options.shape;
    stride = *options.stride;
  } else {
    std::tie(shape, stride) = even_global_shape(local, placements, mesh);
  }
  if (options.run_check && mesh.contains_this_rank()) {
    shard = check_and_sync(shard, mesh, placements, options.shape.has_value());
  }
  auto spec = DTensorSpec::make(mesh, std::move(placements),
                                TensorMeta{std::move(shape), std::move(stride), local.scalar_type()});
  if (mesh.contains_this_rank()) {
    TORCH_CHECK_VALUE(c10::IntArrayRef(spec->local_shape()) == shard.sizes(), "from_local: the "
                      "local tensor has shape ", shard.sizes(), " but rank ", mesh.get_rank(),
                      "'s shard of ", *spec, " has shape ", c10::IntArrayRef(spec->local_shape()),
                      ". Uneven shards need the global shape and stride (FromLocalOptions).");
  }
  return DTensor(detail::from_local_differentiable(input, shard, std::move(spec)));
}

at::Tensor DTensor::to_local(std::optional<Placements> grad_placements) const {
  const SpecPtr& spec = impl_of(*this)->spec();
  SpecPtr grad_spec = spec;
  // An empty list means the forward placements, like None (PyTorch: `grad_placements or spec`).
  if (grad_placements && !grad_placements->empty()) {
    grad_spec = spec->with_placements(default_placements(std::move(*grad_placements), spec->mesh()));
  }
  return detail::to_local_differentiable(*this, std::move(grad_spec));
}

DTensor DTensor::redistribute(const DeviceMesh& mesh, Placements placements,
                              const RedistributeOptions& options) const {
  const auto& current = spec();
  TORCH_CHECK_NOT_IMPLEMENTED(mesh == current.mesh(), "Cross device mesh comm not supported yet! "
                              "The DTensor is on ", current.mesh(), ", the target mesh is ", mesh);
  TORCH_CHECK(!placements.empty(), "placements is needed for redistribute! Pass one Placement per mesh "
              "dim (", mesh.ndim(), " here), e.g. all Replicate() to gather the full tensor");
  placements = normalized(default_placements(std::move(placements), mesh), current.ndim());
  for (size_t m = 0; m < placements.size(); ++m) {
    TORCH_CHECK(!placements[m].is_partial() || placements[m] == current.placements()[m],
                "Can not redistribute from ", current.placements()[m].str(), " to ",
                placements[m].str(), ", redistributing to Partial is for internal use only! (A Partial "
                "comes from ops, e.g. a matmul over a sharded contracting dim, or from from_local.)");
  }
  auto target = current.with_placements(std::move(placements));
  return DTensor(detail::redistribute_differentiable(*this, std::move(target), options.async_op));
}

DTensor DTensor::redistribute(Placements placements, const RedistributeOptions& options) const {
  return redistribute(device_mesh(), std::move(placements), options);
}

at::Tensor DTensor::full_tensor(std::optional<Placements> grad_placements) const {
  return redistribute(Placements(device_mesh().ndim(), Replicate{})).to_local(std::move(grad_placements));
}

DTensor distribute_tensor(const at::Tensor& tensor, const DeviceMesh& mesh, Placements placements,
                          std::optional<int> src_data_rank) {
  TORCH_CHECK_VALUE(tensor.defined(), "distribute_tensor: the tensor is undefined; pass the global "
                    "tensor, with the same shape on every rank");
  TORCH_CHECK(!tensor.requires_grad() || tensor.is_leaf(), "`distribute_tensor` should be used to "
              "distribute leaf tensors! but found non-leaf tensor!");
  placements = normalized(default_placements(std::move(placements), mesh), tensor.dim());
  if (is_dtensor(tensor)) {
    DTensor d(tensor);
    TORCH_CHECK_VALUE(d.device_mesh() == mesh, "Cannot distribute a DTensor with device mesh ",
                      d.device_mesh(), " to a different device mesh ", mesh, ".");
    TORCH_CHECK_VALUE(d.placements() == placements, "Cannot distribute a DTensor with placements ",
                      d.placements(), " to a different placements ", placements,
                      ". do you want to call `redistribute` instead?");
    return d;
  }
  for (size_t m = 0; m < placements.size(); ++m) {
    TORCH_CHECK(!placements[m].is_partial(), "Trying to distribute tensor with unsupported "
                "placements ", placements[m].str(), " on device mesh dimension ", m, "!");
    TORCH_CHECK_VALUE(!src_data_rank || (*src_data_rank >= 0 && *src_data_rank < mesh.size(m)),
                      "src_data_rank ", *src_data_rank, " is not a rank of mesh dim ", m,
                      " (size ", mesh.size(m), ")");
  }
  at::Tensor full = tensor.detach();
  if (full.device() != mesh.device()) full = full.to(mesh.device());
  auto spec = DTensorSpec::make(
      mesh, placements, TensorMeta{full.sizes().vec(), full.strides().vec(), full.scalar_type()});
  at::Tensor local;
  if (auto coord = mesh.get_coordinate()) {
    local = full;
    bool owned = false;  // `local` no longer aliases the caller's tensor
    for (int64_t m = 0; m < mesh.ndim(); ++m) {
      const auto& p = placements[m];
      const int64_t n = mesh.size(m);
      const bool communicate = src_data_rank.has_value() && n > 1;
      if (p.is_replicate()) {
        if (communicate) {
          local = comm::broadcast(local, *src_data_rank, mesh.get_group(m));
          owned = true;
        }
        continue;
      }
      const int64_t d = p.shard_dim();
      const auto [mine, offset] = local_shard_size_and_offset(local.size(d), n, (*coord)[m]);
      if (communicate) {
        local = scatter_shards(local, d, n, *src_data_rank, mesh.get_group(m)).narrow(d, 0, mine);
        owned = true;
      } else {
        local = local.narrow(d, mine == 0 ? 0 : offset, mine);
      }
    }
    if (!owned || !local.is_contiguous()) local = local.clone(at::MemoryFormat::Contiguous);
  } else {
    local = at::empty({0}, full.options());
  }
  DTensor out(detail::make_dtensor(std::move(local), std::move(spec)));
  if (tensor.requires_grad()) out.set_requires_grad(true);
  return out;
}

namespace {
thread_local int implicit_replication_depth = 0;
}

ImplicitReplicationGuard::ImplicitReplicationGuard() { ++implicit_replication_depth; }
ImplicitReplicationGuard::~ImplicitReplicationGuard() { --implicit_replication_depth; }
bool ImplicitReplicationGuard::active() { return implicit_replication_depth > 0; }

std::ostream& operator<<(std::ostream& os, const DTensor& t) {
  const auto& s = t.spec();
  return os << "DTensor(local=" << t.local_tensor().sizes() << ", global="
            << c10::IntArrayRef(s.shape()) << ", placements=" << s.placements()
            << ", mesh=" << s.mesh() << ", dtype=" << s.dtype() << ")";
}

}  // namespace dtensor
