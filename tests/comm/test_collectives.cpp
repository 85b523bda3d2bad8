// The collective layer on Gloo: values against what each rank can compute locally, for every
// function, reduce op and world size, including the compositions Gloo lacks natively. The same
// layer on MPI: tests/mpi/test_comm_mpi.cpp.
#include <map>

#include <c10/core/InferenceMode.h>

#include <dtensor/comm.h>
#include <dtensor/device_mesh.h>
#include <dtensor/runtime.h>

#include "harness/expect.h"
#include "harness/multiprocess.h"

using namespace dtensor::comm;
using dtensor::testing::run_world;

namespace {

// Rank r's input: a deterministic tensor that differs per rank.
at::Tensor input_of(int rank, at::IntArrayRef sizes, at::ScalarType dtype = at::kDouble) {
  auto n = c10::multiply_integers(sizes);
  return (at::arange(n, at::kDouble) * (rank + 1) + rank).view(sizes).to(dtype);
}

std::vector<at::Tensor> all_inputs(int world, at::IntArrayRef sizes, at::ScalarType dtype = at::kDouble) {
  std::vector<at::Tensor> v;
  for (int r = 0; r < world; ++r) v.push_back(input_of(r, sizes, dtype));
  return v;
}

}  // namespace

TEST(Collectives, AllReduceEveryOp) {
  for (int n : {1, 2, 3, 4}) {
    run_world(n, [n](int rank) {
      auto g = dtensor::world_group();
      auto all = at::stack(all_inputs(n, {3, 5}));
      auto mine = input_of(rank, {3, 5});
      EXPECT_TRUE(all_reduce(mine, ReduceOp::Sum, g).allclose(all.sum(0)));
      EXPECT_TRUE(all_reduce(mine, ReduceOp::Avg, g).allclose(all.mean(0)));
      EXPECT_TRUE(all_reduce(mine, ReduceOp::Max, g).equal(std::get<0>(all.max(0))));
      EXPECT_TRUE(all_reduce(mine, ReduceOp::Min, g).equal(std::get<0>(all.min(0))));
      EXPECT_TRUE(all_reduce(mine, ReduceOp::Product, g).allclose(all.prod(0)));
      EXPECT_TRUE(mine.equal(input_of(rank, {3, 5}))) << "all_reduce must not modify its input";
      auto ints = input_of(rank, {4}, at::kLong);
      EXPECT_TRUE(all_reduce(ints, ReduceOp::Sum, g).equal(at::stack(all_inputs(n, {4}, at::kLong)).sum(0)));
      EXPECT_THROW_MSG(all_reduce(ints, ReduceOp::Avg, g), c10::Error, "needs a floating point");
    });
  }
}

TEST(Collectives, AllGatherAnyDimAndLayout) {
  for (int n : {1, 2, 3, 4}) {
    run_world(n, [n](int rank) {
      auto g = dtensor::world_group();
      for (int64_t dim : {0, 1, 2}) {
        auto got = all_gather(input_of(rank, {2, 3, 4}), dim, g);
        EXPECT_TRUE(got.equal(at::cat(all_inputs(n, {2, 3, 4}), dim))) << "dim " << dim;
      }
      // A transposed (non-contiguous) input.
      auto got = all_gather(input_of(rank, {3, 2}).t(), 1, g);
      std::vector<at::Tensor> ts;
      for (auto& t : all_inputs(n, {3, 2})) ts.push_back(t.t());
      EXPECT_TRUE(got.equal(at::cat(ts, 1)));
    });
  }
}

TEST(Collectives, ReduceScatterEveryOpAndDim) {
  for (int n : {1, 2, 3, 4}) {
    run_world(n, [n](int rank) {
      auto g = dtensor::world_group();
      for (int64_t dim : {0, 1}) {
        std::vector<int64_t> sizes{2, 3};
        sizes[dim] *= n;
        auto all = at::stack(all_inputs(n, sizes));
        auto mine = input_of(rank, sizes);
        auto expect_chunk = [&](const at::Tensor& reduced) { return reduced.chunk(n, dim)[rank]; };
        EXPECT_TRUE(reduce_scatter(mine, dim, ReduceOp::Sum, g).allclose(expect_chunk(all.sum(0))));
        EXPECT_TRUE(reduce_scatter(mine, dim, ReduceOp::Avg, g).allclose(expect_chunk(all.mean(0))));
        EXPECT_TRUE(reduce_scatter(mine, dim, ReduceOp::Max, g).equal(expect_chunk(std::get<0>(all.max(0)))));
        EXPECT_TRUE(reduce_scatter(mine, dim, ReduceOp::Min, g).equal(expect_chunk(std::get<0>(all.min(0)))));
      }
      if (n > 1) {
        EXPECT_THROW_MSG(reduce_scatter(at::ones({n + 1}), 0, ReduceOp::Sum, g), c10::Error,
                         "not divisible by the group size");
      }
    });
  }
}

TEST(Collectives, AllToAllMovesChunks) {
  for (int n : {1, 2, 3, 4}) {
    run_world(n, [n](int rank) {
      auto g = dtensor::world_group();
      // Shard(0) -> Shard(1) style: split on 1, gather on 0, and the reverse.
      for (auto [split, concat] : std::vector<std::pair<int64_t, int64_t>>{{1, 0}, {0, 1}, {1, 1}}) {
        std::vector<int64_t> sizes{2 * n, 3 * n};
        auto got = all_to_all(input_of(rank, sizes), split, concat, g);
        std::vector<at::Tensor> pieces;
        for (int src = 0; src < n; ++src) pieces.push_back(input_of(src, sizes).chunk(n, split)[rank]);
        EXPECT_TRUE(got.equal(at::cat(pieces, concat))) << "split " << split << " concat " << concat;
      }
    });
  }
}

TEST(Collectives, BroadcastAndScatterFromAnySource) {
  for (int n : {1, 2, 3, 4}) {
    run_world(n, [n](int rank) {
      auto g = dtensor::world_group();
      const int src = n - 1;
      auto mine = rank == src ? input_of(src, {4, 2}) : at::zeros({4, 2}, at::kDouble);
      EXPECT_TRUE(broadcast(mine, src, g).equal(input_of(src, {4, 2})));
      std::vector<at::Tensor> chunks;
      if (rank == src) chunks = input_of(src, {n, 3}).unbind(0);
      auto got = scatter(chunks, at::empty({3}, at::kDouble), src, g);
      EXPECT_TRUE(got.equal(input_of(src, {n, 3})[rank]));
      EXPECT_THROW_MSG(broadcast(mine, n, g), c10::Error, "is not a rank of the group");
    });
  }
}

TEST(Collectives, AsyncFormsMatchSyncForms) {
  run_world(3, [](int rank) {
    auto g = dtensor::world_group();
    auto x = input_of(rank, {6, 3});
    auto a = all_reduce_async(x, ReduceOp::Sum, g);
    auto b = all_gather_async(x, 1, g);
    auto c = reduce_scatter_async(x, 0, ReduceOp::Sum, g);
    auto d = all_to_all_async(x, 0, 1, g);
    EXPECT_TRUE(d.wait().equal(all_to_all(x, 0, 1, g)));
    EXPECT_TRUE(c.wait().allclose(reduce_scatter(x, 0, ReduceOp::Sum, g)));
    EXPECT_TRUE(b.wait().equal(all_gather(x, 1, g)));
    EXPECT_TRUE(a.wait().allclose(all_reduce(x, ReduceOp::Sum, g)));
    EXPECT_TRUE(a.wait().allclose(all_reduce(x, ReduceOp::Sum, g))) << "wait() is idempotent";
  });
}

TEST(Collectives, ObserversSeeOneLogicalCollectivePerCall) {
  run_world(2, [](int rank) {
    auto g = dtensor::world_group();
    std::map<std::string, int> seen;
    int64_t bytes = 0;
    int h = add_observer([&](const char* name, int64_t b) {
      ++seen[name];
      bytes += b;
    });
    all_reduce(at::ones({4}), ReduceOp::Sum, g);
    reduce_scatter(at::ones({4}), 0, ReduceOp::Sum, g);  // all_to_all + sum on Gloo: still one
    all_gather(at::ones({4}), 0, g);
    all_to_all(at::ones({4}), 0, 0, g);
    broadcast(at::ones({4}), 0, g);
    scatter(rank == 0 ? std::vector<at::Tensor>{at::ones({4}), at::ones({4})} : std::vector<at::Tensor>{},
            at::empty({4}), 0, g);
    remove_observer(h);
    all_reduce(at::ones({4}), ReduceOp::Sum, g);
    EXPECT_EQ(seen, (std::map<std::string, int>{{"all_reduce", 1}, {"reduce_scatter", 1},
                                                 {"all_gather", 1}, {"all_to_all", 1},
                                                 {"broadcast", 1}, {"scatter", 1}}));
    EXPECT_EQ(bytes, 6 * 16);
  });
}

TEST(Collectives, EveryMeshDimOfTwoByTwo) {
  run_world(4, [](int rank) {
    auto mesh = dtensor::init_device_mesh("cpu", {2, 2}, {"dp", "tp"});
    for (int64_t d = 0; d < 2; ++d) {
      auto g = mesh.get_group(d);
      auto peers = mesh.mesh().swapdims(-1, d).reshape({-1, 2});
      auto row = peers[(*mesh.get_coordinate())[1 - d]];
      std::vector<at::Tensor> ins;
      for (int i = 0; i < 2; ++i) ins.push_back(input_of(row[i].item<int>(), {2, 2}));
      auto x = input_of(rank, {2, 2});
      EXPECT_TRUE(all_reduce(x, ReduceOp::Sum, g).allclose(ins[0] + ins[1])) << "mesh dim " << d;
      EXPECT_TRUE(all_gather(x, 0, g).equal(at::cat(ins, 0)));
      EXPECT_TRUE(reduce_scatter(x, 1, ReduceOp::Sum, g).allclose((ins[0] + ins[1]).chunk(2, 1)[g->getRank()]));
      const int me = g->getRank();
      EXPECT_TRUE(all_to_all(x, 0, 1, g).equal(
          at::cat(std::vector<at::Tensor>{ins[0].chunk(2, 0)[me], ins[1].chunk(2, 0)[me]}, 1)));
    }
  });
}

// The forms writing into caller-owned tensors against the allocating forms and local references,
// with flat and stacked layouts, in-place gathering, non-contiguous inputs, bool and inference
// tensors.
TEST(Collectives, IntoCallerTensorsMatchAllocatingForms) {
  for (int n : {1, 2, 3}) {
    run_world(n, [n](int rank) {
      auto g = dtensor::world_group();
      // all_reduce_ in place, every op.
      for (auto op : {ReduceOp::Sum, ReduceOp::Avg, ReduceOp::Max, ReduceOp::Min, ReduceOp::Product}) {
        auto t = input_of(rank, {3, 5});
        all_reduce_(t, op, g);
        EXPECT_TRUE(t.allclose(all_reduce(input_of(rank, {3, 5}), op, g))) << reduce_op_name(op);
      }
      // all_gather_into_tensor: a flat [n * 6] and a stacked [n, 2, 3] output; then in place.
      auto x = input_of(rank, {2, 3});
      auto flat = at::empty({n * 6}, at::kDouble);
      all_gather_into_tensor(flat, x, g);
      EXPECT_TRUE(flat.equal(at::cat(all_inputs(n, {2, 3})).view({-1})));
      auto stacked = at::empty({n, 2, 3}, at::kDouble);
      all_gather_into_tensor(stacked, x.t().contiguous().t(), g);  // strided input: copied first
      EXPECT_TRUE(stacked.equal(at::stack(all_inputs(n, {2, 3}))));
      auto whole = at::zeros({n * 6}, at::kDouble);
      whole.narrow(0, rank * 6, 6).copy_(x.view({-1}));
      all_gather_into_tensor(whole, whole.narrow(0, rank * 6, 6), g);
      EXPECT_TRUE(whole.equal(flat));
      // reduce_scatter_tensor: [n * 2, 3] in, [2, 3] out, every op.
      for (auto op : {ReduceOp::Sum, ReduceOp::Avg, ReduceOp::Max, ReduceOp::Min, ReduceOp::Product}) {
        auto in = input_of(rank, {n * 2, 3});
        auto out = at::empty({2, 3}, at::kDouble);
        reduce_scatter_tensor(out, in, op, g);
        EXPECT_TRUE(out.allclose(reduce_scatter(in, 0, op, g))) << reduce_op_name(op);
      }
      // all_to_all_single: chunk j of dim 0 to rank j.
      auto in = input_of(rank, {n * 2, 3});
      auto out = at::empty({n * 2, 3}, at::kDouble);
      all_to_all_single(out, in, g);
      std::vector<at::Tensor> pieces;
      for (int src = 0; src < n; ++src) pieces.push_back(input_of(src, {n * 2, 3}).chunk(n)[rank]);
      EXPECT_TRUE(out.equal(at::cat(pieces)));
      // bool travels as bytes and comes back into the caller's bool tensor.
      auto flags = at::arange(4).remainder(2).eq(rank % 2);
      auto any = flags.clone();
      all_reduce_(any, ReduceOp::Sum, g);
      EXPECT_TRUE(any.equal(all_reduce(flags, ReduceOp::Sum, g)));
      auto gathered = at::empty({n * 4}, at::kBool);
      all_gather_into_tensor(gathered, flags, g);
      EXPECT_TRUE(gathered.equal(all_gather(flags, 0, g)));
      // Inference tensors: Gloo fills an inference output from a normal staging buffer.
      {
        c10::InferenceMode inference;
        auto out_inference = at::empty({n * 6}, at::kDouble);
        all_gather_into_tensor(out_inference, x, g);
        EXPECT_TRUE(out_inference.is_inference());
        EXPECT_TRUE(out_inference.equal(flat));
        auto y = at::ones({3});
        all_reduce_(y, ReduceOp::Sum, g);
        EXPECT_TRUE(y.equal(at::full({3}, double(n))));
      }
      // Empty tensors move nothing and leave the output empty.
      auto none = at::empty({0, 3}, at::kDouble);
      all_gather_into_tensor(at::empty({0}, at::kDouble), none, g);
      all_to_all_single(at::empty({0, 3}, at::kDouble), none, g);
    });
  }
}

TEST(Collectives, IntoCallerTensorsRejectBadArguments) {
  run_world(2, [](int) {
    auto g = dtensor::world_group();
    auto x = at::ones({4});
    EXPECT_THROW_MSG(all_gather_into_tensor(at::empty({8}, at::kFloat), x.to(at::kDouble), g),
                     c10::TypeError, "same dtype");
    EXPECT_THROW_MSG(all_gather_into_tensor(at::empty({7}), x, g), c10::ValueError,
                     "the output has 7 elements, expected 8");
    EXPECT_THROW_MSG(all_gather_into_tensor(at::empty({8, 2}).select(1, 0), x, g), c10::ValueError,
                     "must be contiguous");
    EXPECT_THROW_MSG(reduce_scatter_tensor(at::empty({2}), at::ones({5}), ReduceOp::Sum, g),
                     c10::ValueError, "do not split evenly over the group size 2");
    EXPECT_THROW_MSG(reduce_scatter_tensor(at::empty({3}), x, ReduceOp::Sum, g), c10::ValueError,
                     "expected 2");
    EXPECT_THROW_MSG(all_to_all_single(at::empty({3, 2}), at::ones({3, 2}), g), c10::ValueError,
                     "must be divisible by the group size 2");
    EXPECT_THROW_MSG(all_reduce_(at::ones({4, 4}).t(), ReduceOp::Sum, g), c10::ValueError,
                     "must be contiguous");
    EXPECT_THROW_MSG(all_reduce_(at::ones({4}, at::kLong), ReduceOp::Avg, g), c10::Error,
                     "needs a floating point");
    EXPECT_THROW_MSG(all_reduce_(x, ReduceOp::Sum, Group()), c10::Error, "no process group");
  });
}

TEST(Collectives, IntoCallerTensorsAreOneLogicalCollectiveEach) {
  run_world(2, [](int) {
    auto g = dtensor::world_group();
    std::map<std::string, int> seen;
    int h = add_observer([&](const char* name, int64_t) { ++seen[name]; });
    auto x = at::ones({4});
    all_reduce_(x, ReduceOp::Sum, g);
    all_gather_into_tensor(at::empty({8}), x, g);
    reduce_scatter_tensor(at::empty({2}), x, ReduceOp::Sum, g);  // all_to_all + sum on Gloo
    all_to_all_single(at::empty({4}), x, g);
    all_reduce_(at::ones({2}, at::kBool), ReduceOp::Sum, g);  // via bytes: still one
    remove_observer(h);
    EXPECT_EQ(seen, (std::map<std::string, int>{{"all_reduce", 2}, {"reduce_scatter", 1},
                                                 {"all_gather", 1}, {"all_to_all", 1}}));
  });
}
