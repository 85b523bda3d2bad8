// Smoke run: every rank joins the world, builds a 2-D mesh when the world allows it, and checks
// an all_reduce along each mesh dim. `dtensor-run --nproc-per-node 4 ./hello_mesh`
#include <cstdio>

#include <dtensor/dtensor.h>

int main() {
  dtensor::init_process_group();
  const int n = dtensor::get_world_size();
  auto mesh = n % 2 == 0 ? dtensor::init_device_mesh("cpu", {2, n / 2}, {"dp", "tp"})
                         : dtensor::init_device_mesh("cpu", {n}, {"tp"});
  bool ok = true;
  for (int64_t d = 0; d < mesh.ndim(); ++d) {
    auto group = mesh.get_group(d);
    auto sum = dtensor::comm::all_reduce(at::ones({4}), dtensor::comm::ReduceOp::Sum, group);
    ok = ok && sum.equal(at::full({4}, static_cast<double>(mesh.size(d)), at::kFloat));
  }
  std::printf("rank %d of %d on %s (%s): all_reduce along every mesh dim %s\n", dtensor::get_rank(),
              n, c10::str(mesh).c_str(), dtensor::get_backend().c_str(), ok ? "ok" : "WRONG");
  dtensor::destroy_process_group();
  return ok ? 0 : 1;
}
