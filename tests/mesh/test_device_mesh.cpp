// DeviceMesh: construction, coordinates, groups, slicing, errors.
#include <sstream>

#include <dtensor/comm.h>
#include <dtensor/device_mesh.h>
#include <dtensor/runtime.h>

#include "harness/expect.h"
#include "harness/multiprocess.h"

using dtensor::DeviceMesh;
using dtensor::init_device_mesh;
using dtensor::testing::run_world;

TEST(DeviceMesh, OneDimensionalCoversTheWorld) {
  for (int n : {1, 2, 3, 4}) {
    run_world(n, [n](int rank) {
      auto mesh = init_device_mesh("cpu", {n}, {"tp"});
      EXPECT_EQ(mesh.ndim(), 1);
      EXPECT_EQ(mesh.size(), n);
      EXPECT_EQ(mesh.shape(), std::vector<int64_t>{n});
      EXPECT_EQ(mesh.get_rank(), rank);
      EXPECT_EQ(mesh.get_local_rank(), rank);
      EXPECT_EQ(mesh.get_local_rank("tp"), rank);
      EXPECT_EQ(*mesh.get_coordinate(), std::vector<int64_t>{rank});
      EXPECT_EQ(mesh.get_group()->getSize(), n);
      EXPECT_EQ(mesh.get_group().get(), dtensor::world_group().get()) << "whole-world mesh reuses the world group";
      EXPECT_EQ(mesh.device(), c10::Device(c10::kCPU));
    });
  }
}

TEST(DeviceMesh, TwoByTwoGroupsFollowRowsAndColumns) {
  run_world(4, [](int rank) {
    auto mesh = init_device_mesh("cpu", {2, 2}, {"dp", "tp"});
    auto coord = *mesh.get_coordinate();
    EXPECT_EQ(coord, (std::vector<int64_t>{rank / 2, rank % 2}));
    EXPECT_EQ(mesh.get_local_rank("dp"), rank / 2);
    EXPECT_EQ(mesh.get_local_rank(1), rank % 2);
    // Along "tp" the group is this rank's row of the mesh; along "dp" its column.
    auto tp_sum = dtensor::comm::all_reduce(at::full({1}, double(rank)), dtensor::comm::ReduceOp::Sum,
                                            mesh.get_group("tp"));
    auto dp_sum = dtensor::comm::all_reduce(at::full({1}, double(rank)), dtensor::comm::ReduceOp::Sum,
                                            mesh.get_group("dp"));
    const int row = rank / 2, col = rank % 2;
    EXPECT_EQ(tp_sum.item<double>(), 2 * row + 2 * row + 1);
    EXPECT_EQ(dp_sum.item<double>(), col + 2 + col);
    EXPECT_EQ(mesh.get_group(0)->getRank(), row);
    EXPECT_EQ(mesh.get_group(1)->getRank(), col);
  });
}

TEST(DeviceMesh, SlicingReturnsTheSubMeshHoldingThisRank) {
  run_world(4, [](int rank) {
    auto mesh = init_device_mesh("cpu", {2, 2}, {"dp", "tp"});
    auto tp = mesh["tp"];
    auto dp = mesh["dp"];
    const int64_t row = rank / 2, col = rank % 2;
    EXPECT_TRUE(tp.mesh().equal(at::tensor({2 * row, 2 * row + 1}, at::kLong)));
    EXPECT_TRUE(dp.mesh().equal(at::tensor({col, 2 + col}, at::kLong)));
    EXPECT_EQ(tp.mesh_dim_names(), std::vector<std::string>{"tp"});
    EXPECT_EQ(tp.get_local_rank(), col);
    EXPECT_EQ(dp.get_local_rank(), row);
    EXPECT_EQ(tp.get_group().get(), mesh.get_group("tp").get()) << "slices reuse the parent's groups";
    EXPECT_TRUE((mesh[{"dp", "tp"}] == mesh));
    auto swapped = mesh[std::vector<std::string>{"tp", "dp"}];
    EXPECT_TRUE(swapped.mesh().equal(mesh.mesh().t().contiguous()));
    EXPECT_EQ(swapped.get_group(0).get(), mesh.get_group(1).get());
  });
}

TEST(DeviceMesh, ThreeDimensionalSlices) {
  run_world(4, [](int rank) {
    auto mesh = init_device_mesh("cpu", {1, 2, 2}, {"pp", "dp", "tp"});
    auto dp_tp = mesh[{"dp", "tp"}];
    EXPECT_EQ(dp_tp.shape(), (std::vector<int64_t>{2, 2}));
    EXPECT_EQ(mesh.get_group("pp")->getSize(), 1);
    EXPECT_EQ(dp_tp.get_local_rank("tp"), rank % 2);
  });
}

TEST(DeviceMesh, RanksOutsideTheMeshHaveNoCoordinate) {
  run_world(4, [](int rank) {
    DeviceMesh mesh("cpu", at::tensor({0, 1}, at::kLong), {"tp"});
    if (rank < 2) {
      EXPECT_EQ(mesh.get_local_rank(), rank);
      EXPECT_EQ(mesh.get_group()->getSize(), 2);
    } else {
      EXPECT_FALSE(mesh.get_coordinate().has_value());
      EXPECT_FALSE(mesh.get_group());
      EXPECT_THROW_MSG(mesh.get_local_rank(), c10::Error, "is not part of the mesh");
    }
  });
}

TEST(DeviceMesh, NonContiguousRankOrder) {
  run_world(4, [](int rank) {
    DeviceMesh mesh("cpu", at::tensor({3, 1, 2, 0}, at::kLong).view({2, 2}), {"a", "b"});
    auto coord = *mesh.get_coordinate();
    const std::vector<std::vector<int64_t>> expected{{1, 1}, {0, 1}, {1, 0}, {0, 0}};
    EXPECT_EQ(coord, expected[rank]);
    auto got = dtensor::comm::all_gather(at::full({1}, int64_t(rank)), 0, mesh.get_group("b"));
    EXPECT_TRUE(got.equal(mesh.mesh()[coord[0]])) << got;
  });
}

TEST(DeviceMesh, EqualityAndPrinting) {
  run_world(2, [](int) {
    auto a = init_device_mesh("cpu", {2}, {"tp"});
    auto b = init_device_mesh("cpu", {2}, {"tp"});
    auto c = init_device_mesh("cpu", {2}, {"dp"});
    EXPECT_TRUE(a == b);
    EXPECT_FALSE(a == c);
    EXPECT_EQ(a.get_group().get(), b.get_group().get());
    std::ostringstream os;
    os << init_device_mesh("cpu", {1, 2}, {"dp", "tp"});
    EXPECT_EQ(os.str(), "DeviceMesh('cpu', [[0, 1]], mesh_dim_names=('dp', 'tp'))");
  });
}

TEST(DeviceMesh, ErrorsNameTheProblem) {
  run_world(2, [](int) {
    EXPECT_THROW_MSG(init_device_mesh("cpu", {2}, {"tp", "dp"}), c10::ValueError,
                     "mesh_shape and mesh_dim_names should have same length");
    EXPECT_THROW_MSG(init_device_mesh("cpu", {1, 2}, {"tp", "tp"}), c10::ValueError,
                     "Each mesh_dim_name must be unique");
    EXPECT_THROW_MSG(init_device_mesh("cuda:0", {2}), c10::ValueError,
                     "Device type with index is not supported");
    EXPECT_THROW_MSG(init_device_mesh("cpu", {4}), c10::Error,
                     "Mesh should not be bigger than default world size 2");
    auto unnamed = init_device_mesh("cpu", {1, 2});
    EXPECT_THROW_MSG(unnamed["tp"], c10::Error, "Cannot slice a DeviceMesh without mesh_dim_names");
    EXPECT_THROW_MSG(unnamed.get_local_rank(), c10::Error, "`mesh_dim` needs to be specified");
    auto named = init_device_mesh("cpu", {1, 2}, {"dp", "tp"});
    EXPECT_THROW_MSG(named["pp"], c10::IndexError, "Valid mesh_dim_names are [dp, tp]");
    EXPECT_THROW_MSG(DeviceMesh("cpu", at::tensor({0, 0}, at::kLong)), c10::ValueError,
                     "must not repeat a rank");
    EXPECT_THROW_MSG(DeviceMesh("cpu", at::tensor({0.0, 1.0})), c10::ValueError, "integer ranks");
  });
}
