#include <dtensor/parallel/data_parallel.h>

#include <torch/nn/module.h>

#include <dtensor/nn/hooks.h>
#include <dtensor/nn/parameters.h>
#include <dtensor/tensor.h>

namespace dtensor::parallel {
namespace {

// `p` (plain, or a DTensor on a sub-mesh of `mesh` that lacks the dp dim) as a DTensor on `mesh`.
at::Tensor lift(const at::Tensor& p, const DeviceMesh& mesh, int64_t dp_dim) {
  Placements placements(mesh.ndim(), Replicate{});
  if (!is_dtensor(p)) return distribute_tensor(p.detach(), mesh, placements, 0);
  DTensor d(p);
  if (d.device_mesh() == mesh) return p;
  // Map each dim of the parameter's mesh to the same-named dim of `mesh`.
  const auto& names = d.device_mesh().mesh_dim_names();
  for (size_t i = 0; i < d.placements().size(); ++i) {
    const int64_t m = names.empty() ? -1 : mesh.mesh_dim_index(names[i]);
    TORCH_CHECK_VALUE(m >= 0 && m != dp_dim && mesh[names[i]] == d.device_mesh()[names[i]],
                      "data_parallel: a parameter lives on ", d.device_mesh(), ", which is not a named "
                      "sub-mesh of ", mesh, " without the data-parallel dim");
    placements[m] = d.placements()[i];
  }
  const auto& spec = d.spec();
  return DTensor::from_local(d.local_tensor(), mesh, placements,
                             FromLocalOptions{false, spec.shape(), spec.meta().stride});
}

}  // namespace

void data_parallel(torch::nn::Module& module, const DeviceMesh& mesh, const DataParallelOptions& options) {
  const int64_t dp = mesh.mesh_dim_index(options.mesh_dim_name);
  std::vector<std::pair<std::string, std::shared_ptr<torch::nn::Module>>> modules{{"", module.shared_from_this()}};
  for (const auto& m : module.named_modules("", /*include_self=*/false)) modules.emplace_back(m.key(), m.value());
  // Lift each distinct tensor once, so tied parameters stay tied.
  std::vector<std::pair<at::Tensor, at::Tensor>> lifted;
  for (auto& [name, m] : modules) {
    for (const auto& p : m->named_parameters(/*recurse=*/false)) {
      if (!p.value().defined()) continue;
      at::Tensor value;
      for (const auto& [from, to] : lifted)
        if (from.is_same(p.value())) value = to;
      if (!value.defined()) {
        value = lift(p.value(), mesh, dp);
        lifted.emplace_back(p.value(), value);
      }
      nn::replace_parameter(*m, p.key(), value);
    }
  }
  const int64_t batch_dim = options.batch_dim;
  nn::register_forward_pre_hook(module, [mesh, dp, batch_dim](torch::nn::Module&, std::vector<at::Tensor>& inputs) {
    for (auto& x : inputs) {
      if (!x.defined() || is_dtensor(x)) continue;
      Placements p(mesh.ndim(), Replicate{});
      p[dp] = Shard(batch_dim);
      x = DTensor::from_local(x, mesh, p);
    }
  });
}

}  // namespace dtensor::parallel
