// Joins the world, builds a mesh and checks one all_reduce; exit code 0 on success.
#include <cstdio>

#include <dtensor/dtensor.h>

int main() {
  dtensor::init_process_group();
  const int n = dtensor::get_world_size();
  auto mesh = dtensor::init_device_mesh("cpu", {n}, {"tp"});
  auto sum = dtensor::comm::all_reduce(at::ones({2}) * (mesh.get_local_rank() + 1),
                                       dtensor::comm::ReduceOp::Sum, mesh.get_group());
  const bool ok = sum.equal(at::full({2}, n * (n + 1) / 2.0));
  std::printf("consumer rank %d of %d (%s): %s\n", dtensor::get_rank(), n,
              dtensor::get_backend().c_str(), ok ? "ok" : "WRONG");
  dtensor::destroy_process_group();
  return ok ? 0 : 1;
}
