// DeviceMesh errors of SEMANTICS section 5 not covered by test_device_mesh.cpp's
// ErrorsNameTheProblem, and the argument checks behind them: each with its exact type and a stable
// part of the message (the catalogue is in tests/dtensor/test_errors.cpp).
#include <dtensor/dtensor.h>

#include "harness/expect.h"
#include "harness/multiprocess.h"

using namespace dtensor;
using dtensor::testing::run_world;

TEST(DeviceMeshErrors, BadArgumentsSayWhatWasExpected) {
  // Every rank raises the same errors before any group is created, so no rank waits on another.
  run_world(2, [](int) {
    // get_group() without a mesh dim is PyTorch's mesh_dim=None: 1-D meshes only.
    auto mesh2d = init_device_mesh("cpu", {1, 2}, {"dp", "tp"});
    EXPECT_THROW_MSG(mesh2d.get_group(), c10::Error,
                     "Optional kwarg `mesh_dim` needs to be specified when device_mesh.ndim > 1.");
    EXPECT_THROW_MSG(mesh2d.get_group(), c10::Error, "This mesh is 2-D");
    EXPECT_EQ(mesh2d.get_group(1).get(), mesh2d.get_group("tp").get());
    EXPECT_EQ(mesh2d["tp"].get_group().get(), mesh2d.get_group("tp").get()) << "a 1-D slice needs no dim";
    EXPECT_THROW_MSG(mesh2d.get_group(2), c10::IndexError, "mesh dim 2 is out of range for a 2-D mesh");
    EXPECT_THROW_MSG(mesh2d.get_local_rank(-3), c10::IndexError, "mesh dim -3 is out of range");
    EXPECT_THROW_MSG(mesh2d.size(2), c10::IndexError, "mesh dim 2 is out of range for a 2-D mesh");
    EXPECT_THROW_MSG(mesh2d.get_group("pp"), c10::IndexError,
                     "Invalid mesh_dim_names 'pp'. Valid mesh_dim_names are [dp, tp]");
    // Slicing.
    EXPECT_THROW_MSG((mesh2d[{"tp", "tp"}]), c10::ValueError, "mesh dim name 'tp' is repeated in the slice");
    EXPECT_THROW_MSG(mesh2d[std::vector<std::string>{}], c10::ValueError, "needs at least one mesh_dim_name");
    // Construction.
    const auto on_meta = at::empty({2}, at::TensorOptions().dtype(at::kLong).device(at::kMeta));
    EXPECT_THROW_MSG(DeviceMesh("cpu", on_meta), c10::ValueError, "`mesh` must be a CPU tensor, got meta");
    EXPECT_THROW_MSG(DeviceMesh("cpu", at::tensor({0, 2}, at::kLong)), c10::ValueError,
                     "`mesh` holds ranks outside the world [0, 2)");
    EXPECT_THROW_MSG(DeviceMesh("cpu", at::empty({0}, at::kLong)), c10::ValueError, "must have at least one rank");
    EXPECT_THROW_MSG(DeviceMesh("tpu", at::arange(2)), c10::ValueError, "unsupported mesh device type 'tpu'");
    EXPECT_THROW_MSG(init_device_mesh("cpu", {}), c10::ValueError, "mesh_shape must not be empty");
    EXPECT_THROW_MSG(init_device_mesh("cpu", {2, 0}), c10::ValueError, "mesh_shape entries must be >= 1, got [2, 0]");
  });
}
