// data_parallel: composes data parallelism with tensor parallelism through placements alone.
//
// After parallelize_module(model, mesh["tp"], plan), data_parallel(model, mesh, "dp") lifts every
// parameter onto the N-D `mesh`: Replicate on the data-parallel dim, its tensor-parallel placement
// on the others (no communication: each rank keeps its shard; plain parameters are broadcast from
// rank 0 of the mesh so replicas start equal). Plain tensor inputs of the module become this
// rank's piece of the batch: Shard(batch_dim) on "dp", Replicate elsewhere.
//
// Gradients then come out Partial(sum) over "dp" (each dp group summed its own batch), and the
// optimizer's first use of a gradient all-reduces it over "dp": the single-process gradient of the
// whole batch's loss, with no hand-written all_reduce. The module must be called through a
// hookable holder (DTENSOR_MODULE) for its inputs to be annotated.
//
// Inside the model, activations must stay DTensors (use_local_output(false) on the styles) so
// they keep their batch sharding: a style meeting a plain tensor on an N-D mesh can only take it
// as replicated over the mesh dims other than its own (right for positions or masks, wrong for a
// batch piece).
#pragma once

#include <string>

#include <dtensor/device_mesh.h>

namespace torch::nn {
class Module;
}

namespace dtensor::parallel {

struct DataParallelOptions {
  std::string mesh_dim_name = "dp";
  int64_t batch_dim = 0;
};

void data_parallel(torch::nn::Module& module, const DeviceMesh& mesh, const DataParallelOptions& options = {});

}  // namespace dtensor::parallel
