// Debugging aids: CommDebugMode (counts per collective kind, totals, nesting, no zero entries)
// and visualize_sharding (exact tables for small 1-D and 2-D tensors on 1-D and 2-D meshes,
// even and uneven shards), each table worked out by hand from torch.chunk.
#include <dtensor/dtensor.h>

#include "harness/expect.h"
#include "harness/multiprocess.h"

using namespace dtensor;
using dtensor::debug::CommDebugMode;
using dtensor::debug::visualize_sharding;
using dtensor::testing::run_world;
using Counts = std::map<std::string, int64_t>;

TEST(CommDebugMode, CountsPerKindAndNesting) {
  for (int n : {1, 2, 3}) {
    run_world(n, [n](int) {
      auto mesh = init_device_mesh("cpu", {n});
      auto full = at::randn({7, 6});
      CommDebugMode outer;
      EXPECT_EQ(outer.get_total_counts(), 0);
      EXPECT_TRUE(outer.get_comm_counts().empty());
      auto s = distribute_tensor(full, mesh, {Shard(0)});      // scatter
      auto r = distribute_tensor(full, mesh, {Replicate{}});   // broadcast
      auto p = DTensor::from_local(full, mesh, {Partial{}});   // no collective
      Counts inner_counts;
      {
        CommDebugMode inner;
        s.redistribute({Replicate{}});      // all_gather
        s.redistribute({Shard(1)});         // all_to_all
        p.redistribute({Replicate{}});      // all_reduce
        p.redistribute({Shard(0)});         // reduce_scatter
        r.redistribute({Shard(1)});         // local
        inner_counts = inner.get_comm_counts();
        EXPECT_EQ(inner.get_total_counts(), n == 1 ? 0 : 4);
      }
      s.redistribute({Replicate{}});        // all_gather, after the inner mode ended
      const Counts expect_inner = n == 1 ? Counts{}
                                         : Counts{{"all_gather", 1}, {"all_to_all", 1},
                                                  {"all_reduce", 1}, {"reduce_scatter", 1}};
      EXPECT_EQ(inner_counts, expect_inner);
      const Counts expect_outer = n == 1 ? Counts{}
                                         : Counts{{"scatter", 1}, {"broadcast", 1}, {"all_gather", 2},
                                                  {"all_to_all", 1}, {"all_reduce", 1},
                                                  {"reduce_scatter", 1}};
      EXPECT_EQ(outer.get_comm_counts(), expect_outer);  // zero counts are not listed
      EXPECT_EQ(outer.get_total_counts(), n == 1 ? 0 : 7);
      // The table lists each collective once, with the total last.
      const std::string table = outer.table();
      if (n > 1) {
        EXPECT_NE(table.find("all_gather"), std::string::npos) << table;
        EXPECT_EQ(table.find("all_gather"), table.rfind("all_gather")) << table;
      }
      EXPECT_NE(table.find("total"), std::string::npos) << table;
      EXPECT_EQ(table.substr(table.rfind("total")), c10::str("total", std::string(54, ' '), n == 1 ? 0 : 7, "\n"));
      // Backward collectives count too (R -> S: all_gather of the gradient).
      auto x = distribute_tensor(full, mesh, {Replicate{}}).set_requires_grad(true);
      auto y = DTensor(x).redistribute({Shard(0)});
      CommDebugMode bwd;
      y.to_local().sum().backward();
      EXPECT_EQ(bwd.get_comm_counts(), (n == 1 ? Counts{} : Counts{{"all_gather", 1}}));
    });
  }
}

namespace {

DTensor on(const DeviceMesh& mesh, std::vector<int64_t> shape, Placements p) {
  return distribute_tensor(at::zeros(shape), mesh, std::move(p), std::nullopt);
}

}  // namespace

TEST(VisualizeSharding, OneDimMesh) {
  run_world(2, [](int) {
    auto mesh = init_device_mesh("cpu", {2});
    // 1-D tensors are shown as a column, as PyTorch does.
    EXPECT_EQ(visualize_sharding(on(mesh, {8}, {Shard(0)})),
              "         Col 0-0\n"
              "-------  ---------\n"
              "Row 0-3  cpu:0\n"
              "Row 4-7  cpu:1\n");
    EXPECT_EQ(visualize_sharding(on(mesh, {5}, {Replicate{}})),
              "         Col 0-0\n"
              "-------  ---------\n"
              "Row 0-4  cpu:0,1\n");
    EXPECT_EQ(visualize_sharding(on(mesh, {4, 6}, {Shard(1)})),
              "         Col 0-2    Col 3-5\n"
              "-------  ---------  ---------\n"
              "Row 0-3  cpu:0      cpu:1\n");
    // Uneven: 3 rows over 2 ranks are 2 + 1.
    EXPECT_EQ(visualize_sharding(on(mesh, {3, 12}, {Shard(0)})),
              "         Col 0-11\n"
              "-------  ----------\n"
              "Row 0-1  cpu:0\n"
              "Row 2-2  cpu:1\n");
    // Partial: the blocks of a replicated tensor, and a note.
    auto p = DTensor::from_local(at::zeros({2, 2}), mesh, {Partial{}});
    EXPECT_EQ(visualize_sharding(p),
              "         Col 0-1\n"
              "-------  ---------\n"
              "Row 0-1  cpu:0,1\n"
              "mesh dim 0 is Partial(sum): blocks hold partial values\n");
    // Nothing to show for an empty tensor; 3-D tensors are refused.
    EXPECT_EQ(visualize_sharding(on(mesh, {0, 3}, {Shard(0)})), "");
    EXPECT_THROW_MSG(visualize_sharding(on(mesh, {2, 2, 2}, {Shard(0)})), c10::Error,
                     "visualize sharding supports only 1D or 2D DTensor");
    EXPECT_THROW_MSG(visualize_sharding(at::zeros({2})), c10::TypeError, "needs a DTensor");
  });
  run_world(4, [](int) {
    auto mesh = init_device_mesh("cpu", {4});
    // torch.chunk of 5 over 4: 2, 2, 1, 0: rank 3 holds nothing.
    EXPECT_EQ(visualize_sharding(on(mesh, {5}, {Shard(0)})),
              "         Col 0-0\n"
              "-------  ---------\n"
              "Row 0-1  cpu:0\n"
              "Row 2-3  cpu:1\n"
              "Row 4-4  cpu:2\n"
              "empty shards: cpu:3\n");
  });
}

TEST(VisualizeSharding, TwoDimMesh) {
  run_world(4, [](int) {
    auto mesh = init_device_mesh("cpu", {2, 2});
    EXPECT_EQ(visualize_sharding(on(mesh, {4, 6}, {Shard(0), Shard(1)})),
              "         Col 0-2    Col 3-5\n"
              "-------  ---------  ---------\n"
              "Row 0-1  cpu:0      cpu:1\n"
              "Row 2-3  cpu:2      cpu:3\n");
    EXPECT_EQ(visualize_sharding(on(mesh, {4, 4}, {Shard(0), Replicate{}})),
              "         Col 0-3\n"
              "-------  ---------\n"
              "Row 0-1  cpu:0,1\n"
              "Row 2-3  cpu:2,3\n");
    // Uneven and crossed: mesh dim 0 splits 5 columns 3 + 2, mesh dim 1 splits 3 rows 2 + 1.
    EXPECT_EQ(visualize_sharding(on(mesh, {3, 5}, {Shard(1), Shard(0)})),
              "         Col 0-2    Col 3-4\n"
              "-------  ---------  ---------\n"
              "Row 0-1  cpu:0      cpu:2\n"
              "Row 2-2  cpu:1      cpu:3\n");
    // Nested: 5 rows split 3 + 2 by mesh dim 0, then 2 + 1 and 1 + 1 by mesh dim 1.
    EXPECT_EQ(visualize_sharding(on(mesh, {5, 2}, {Shard(0), Shard(0)})),
              "         Col 0-1\n"
              "-------  ---------\n"
              "Row 0-1  cpu:0\n"
              "Row 2-2  cpu:1\n"
              "Row 3-3  cpu:2\n"
              "Row 4-4  cpu:3\n");
    // A 1-D tensor on a 2-D mesh: 3 rows over 4 shards leave rank 3 empty.
    EXPECT_EQ(visualize_sharding(on(mesh, {3}, {Shard(0), Shard(0)})),
              "         Col 0-0\n"
              "-------  ---------\n"
              "Row 0-0  cpu:0\n"
              "Row 1-1  cpu:1\n"
              "Row 2-2  cpu:2\n"
              "empty shards: cpu:3\n");
    EXPECT_EQ(visualize_sharding(on(mesh, {2, 3}, {Replicate{}, Replicate{}})),
              "         Col 0-2\n"
              "-------  -----------\n"
              "Row 0-1  cpu:0,1,2,3\n");
  });
}
