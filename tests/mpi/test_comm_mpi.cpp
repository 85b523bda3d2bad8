// The collective layer (dtensor::comm) on the MPI backend, under mpirun: the blocking fast path of
// every synchronous form, the c10d asynchronous path of the _async forms, the forms writing into
// caller-owned tensors, and mesh subgroups. SPMD like test_process_group_mpi.cpp: every rank runs
// every test in the same order and checks its own result against what it computes locally from
// every rank's input. The Gloo twin of these checks is tests/comm/test_collectives.cpp.
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include <dtensor/comm.h>
#include <dtensor/device_mesh.h>
#include <dtensor/runtime.h>

#include "spmd_gtest.h"

namespace {

using namespace dtensor::comm;

const std::vector<ReduceOp> kOps = {ReduceOp::Sum, ReduceOp::Avg, ReduceOp::Max, ReduceOp::Min,
                                    ReduceOp::Product};

Group world() { return dtensor::world_group(); }
int rank() { return dtensor::get_rank(); }
int size() { return dtensor::get_world_size(); }

// Rank r's input: small values that differ per rank (products of 4 ranks stay exact).
at::Tensor input_of(int r, at::IntArrayRef sizes, at::ScalarType dtype = at::kDouble) {
  const int64_t n = c10::multiply_integers(sizes);
  return at::arange(n, at::kDouble).remainder(3).add(r + 1).view(sizes).to(dtype);
}

std::vector<at::Tensor> all_inputs(at::IntArrayRef sizes, at::ScalarType dtype = at::kDouble) {
  std::vector<at::Tensor> inputs;
  for (int r = 0; r < size(); ++r) inputs.push_back(input_of(r, sizes, dtype));
  return inputs;
}

// The reduction of every rank's input, computed in double.
at::Tensor reduced(ReduceOp op, at::IntArrayRef sizes, at::ScalarType dtype = at::kDouble) {
  std::vector<at::Tensor> wide;
  for (const auto& t : all_inputs(sizes, dtype)) wide.push_back(t.to(at::kDouble));
  const at::Tensor all = at::stack(wide);
  switch (op) {
    case ReduceOp::Sum: return all.sum(0).to(dtype);
    case ReduceOp::Avg: return all.mean(0).to(dtype);
    case ReduceOp::Max: return all.amax(0).to(dtype);
    case ReduceOp::Min: return all.amin(0).to(dtype);
    default: return all.prod(0).to(dtype);
  }
}

void expect_close(const at::Tensor& actual, const at::Tensor& expected, const std::string& what) {
  ASSERT_EQ(actual.scalar_type(), expected.scalar_type()) << what;
  ASSERT_EQ(actual.sizes(), expected.sizes()) << what;
  EXPECT_TRUE(at::allclose(actual.to(at::kDouble), expected.to(at::kDouble), 1e-2, 1e-2))
      << what << ": got\n" << actual << "\nexpected\n" << expected;
}

TEST(AllocatingForms, AllReduceEveryOpAndDtype) {
  for (auto dtype : {at::kDouble, at::kFloat, at::kHalf, at::kBFloat16}) {
    for (ReduceOp op : kOps) {
      const std::string what = std::string(c10::toString(dtype)) + " " + reduce_op_name(op);
      const at::Tensor mine = input_of(rank(), {3, 5}, dtype);
      expect_close(all_reduce(mine, op, world()), reduced(op, {3, 5}, dtype), what);
      EXPECT_TRUE(mine.equal(input_of(rank(), {3, 5}, dtype))) << "the input must stay as it was";
      expect_close(all_reduce(mine.t(), op, world()), reduced(op, {3, 5}, dtype).t(),
                   what + " transposed");
    }
  }
  expect_close(all_reduce(input_of(rank(), {4}, at::kLong), ReduceOp::Sum, world()),
               reduced(ReduceOp::Sum, {4}, at::kLong), "int64 sum");
  EXPECT_THROW(all_reduce(input_of(rank(), {4}, at::kLong), ReduceOp::Avg, world()), c10::Error);
}

TEST(AllocatingForms, AllGatherReduceScatterAllToAllEveryDim) {
  const int n = size();
  for (int64_t dim : {0, 1, 2}) {
    expect_close(all_gather(input_of(rank(), {2, 3, 4}), dim, world()),
                 at::cat(all_inputs({2, 3, 4}), dim), "all_gather dim " + std::to_string(dim));
  }
  for (int64_t dim : {0, 1}) {
    std::vector<int64_t> sizes{2, 3};
    sizes[dim] *= n;
    for (ReduceOp op : kOps) {
      expect_close(reduce_scatter(input_of(rank(), sizes), dim, op, world()),
                   reduced(op, sizes).chunk(n, dim)[rank()],
                   "reduce_scatter dim " + std::to_string(dim) + " " + reduce_op_name(op));
    }
  }
  const std::vector<std::pair<int64_t, int64_t>> dims = {{0, 0}, {1, 0}, {0, 1}, {1, 1}};
  for (auto [split, concat] : dims) {
    std::vector<at::Tensor> pieces;
    for (int src = 0; src < n; ++src) {
      pieces.push_back(input_of(src, {2 * n, 3 * n}).chunk(n, split)[rank()]);
    }
    expect_close(all_to_all(input_of(rank(), {2 * n, 3 * n}), split, concat, world()),
                 at::cat(pieces, concat),
                 "all_to_all split " + std::to_string(split) + " concat " + std::to_string(concat));
  }
  const int src = n - 1;
  expect_close(broadcast(input_of(rank(), {4}), src, world()), input_of(src, {4}), "broadcast");
  std::vector<at::Tensor> chunks;
  if (rank() == src) chunks = input_of(src, {n, 3}).unbind(0);
  expect_close(scatter(chunks, at::empty({3}, at::kDouble), src, world()),
               input_of(src, {n, 3})[rank()], "scatter");
}

TEST(AllocatingForms, BoolAndEmpty) {
  const at::Tensor flags = at::arange(6).remainder(size()).eq(rank());
  std::vector<at::Tensor> all;
  for (int r = 0; r < size(); ++r) all.push_back(at::arange(6).remainder(size()).eq(r));
  EXPECT_TRUE(all_reduce(flags, ReduceOp::Sum, world()).equal(at::stack(all).any(0)));
  EXPECT_TRUE(all_reduce(flags, ReduceOp::Product, world()).equal(at::stack(all).all(0)));
  EXPECT_TRUE(all_gather(flags, 0, world()).equal(at::cat(all)));
  const at::Tensor none = at::empty({0, 3});
  EXPECT_EQ(all_gather(none, 1, world()).sizes(), (std::vector<int64_t>{0, 3 * size()}));
  EXPECT_EQ(all_reduce(none, ReduceOp::Sum, world()).sizes(), none.sizes());
}

TEST(AsyncForms, MatchTheSynchronousForms) {
  const at::Tensor x = input_of(rank(), {2 * size(), 3});
  auto a = all_reduce_async(x, ReduceOp::Avg, world());
  auto b = all_gather_async(x, 1, world());
  auto c = reduce_scatter_async(x, 0, ReduceOp::Max, world());
  auto d = all_to_all_async(x, 0, 1, world());
  auto e = reduce_scatter_async(x.t().contiguous(), 1, ReduceOp::Sum, world());
  expect_close(e.wait(), reduce_scatter(x.t().contiguous(), 1, ReduceOp::Sum, world()), "e");
  expect_close(d.wait(), all_to_all(x, 0, 1, world()), "d");
  expect_close(c.wait(), reduce_scatter(x, 0, ReduceOp::Max, world()), "c");
  expect_close(b.wait(), all_gather(x, 1, world()), "b");
  expect_close(a.wait(), all_reduce(x, ReduceOp::Avg, world()), "a");
}

TEST(IntoForms, MatchTheAllocatingForms) {
  const int n = size();
  for (ReduceOp op : kOps) {
    for (auto dtype : {at::kDouble, at::kHalf}) {
      at::Tensor t = input_of(rank(), {3, 5}, dtype);
      all_reduce_(t, op, world());
      expect_close(t, reduced(op, {3, 5}, dtype), std::string("all_reduce_ ") + reduce_op_name(op));
    }
    at::Tensor out = at::empty({2, 3}, at::kDouble);
    reduce_scatter_tensor(out, input_of(rank(), {2 * n, 3}), op, world());
    expect_close(out, reduced(op, {2 * n, 3}).chunk(n)[rank()],
                 std::string("reduce_scatter_tensor ") + reduce_op_name(op));
  }
  const at::Tensor x = input_of(rank(), {2, 3});
  at::Tensor stacked = at::empty({n, 2, 3}, at::kDouble);
  all_gather_into_tensor(stacked, x.t().contiguous().t(), world());  // strided input: copied
  expect_close(stacked, at::stack(all_inputs({2, 3})), "all_gather_into_tensor stacked");
  at::Tensor whole = at::zeros({n * 6}, at::kDouble);
  at::Tensor own = whole.narrow(0, rank() * 6, 6);
  own.copy_(x.view({-1}));
  all_gather_into_tensor(whole, own, world());  // in place: MPI_IN_PLACE
  expect_close(whole, at::cat(all_inputs({2, 3})).view({-1}), "all_gather_into_tensor in place");
  at::Tensor received = at::empty({2 * n, 3}, at::kDouble);
  all_to_all_single(received, input_of(rank(), {2 * n, 3}), world());
  std::vector<at::Tensor> pieces;
  for (int src = 0; src < n; ++src) pieces.push_back(input_of(src, {2 * n, 3}).chunk(n)[rank()]);
  expect_close(received, at::cat(pieces), "all_to_all_single");
  at::Tensor flags = at::arange(4).remainder(2).eq(rank() % 2);
  at::Tensor any = flags.clone();
  all_reduce_(any, ReduceOp::Sum, world());
  EXPECT_TRUE(any.equal(all_reduce(flags, ReduceOp::Sum, world())));
}

TEST(IntoForms, RejectBadArgumentsOnEveryRank) {
  const at::Tensor x = at::ones({4});
  EXPECT_THROW(all_gather_into_tensor(at::empty({4 * size()}, at::kDouble), x, world()),
               c10::TypeError);
  EXPECT_THROW(all_gather_into_tensor(at::empty({4 * size() + 1}), x, world()), c10::ValueError);
  EXPECT_THROW(all_to_all_single(at::empty({4 * size()}, at::kFloat).view({4, size()}).t(),
                                 at::ones({size(), 4}), world()),
               c10::ValueError);
  // Overlapping input and output: MPI refuses before sending, on every rank alike.
  at::Tensor buffer = at::zeros({2 * size()});
  EXPECT_THROW(reduce_scatter_tensor(buffer.narrow(0, 0, 2), buffer, ReduceOp::Sum, world()),
               c10::Error);
  barrier(world());
}

TEST(InferenceMode, OutputsAreInferenceTensors) {
  c10::InferenceMode inference;
  const at::Tensor x = input_of(rank(), {2, 3});
  const at::Tensor gathered = all_gather(x, 1, world());
  EXPECT_TRUE(gathered.is_inference());
  expect_close(gathered, at::cat(all_inputs({2, 3}), 1), "all_gather");
  at::Tensor out = at::empty({size() * 6}, at::kDouble);
  all_gather_into_tensor(out, x, world());
  expect_close(out, at::cat(all_inputs({2, 3})).view({-1}), "all_gather_into_tensor");
  EXPECT_TRUE(all_reduce(x, ReduceOp::Avg, world()).is_inference());
}

TEST(Observers, OneLogicalCollectivePerCall) {
  std::map<std::string, int> seen;
  const int handle = add_observer([&](const char* name, int64_t) { ++seen[name]; });
  const at::Tensor x = at::ones({2 * size()});
  all_reduce(x, ReduceOp::Sum, world());
  all_reduce_(at::ones({2}), ReduceOp::Avg, world());
  all_gather_into_tensor(at::empty({2 * size() * size()}), x, world());
  reduce_scatter_tensor(at::empty({2}), x, ReduceOp::Sum, world());
  all_to_all_single(at::empty({2 * size()}), x, world());
  all_gather_async(x, 0, world()).wait();
  remove_observer(handle);
  EXPECT_EQ(seen, (std::map<std::string, int>{{"all_reduce", 2}, {"all_gather", 2},
                                               {"reduce_scatter", 1}, {"all_to_all", 1}}));
}

TEST(Subgroups, EveryDimOfATwoByTwoMesh) {
  if (size() != 4) GTEST_SKIP() << "needs 4 ranks";
  auto mesh = dtensor::init_device_mesh("cpu", {2, 2}, {"dp", "tp"});
  for (int64_t d = 0; d < 2; ++d) {
    auto g = mesh.get_group(d);
    auto peers = mesh.mesh().swapdims(-1, d).reshape({-1, 2});
    auto row = peers[(*mesh.get_coordinate())[1 - d]];
    std::vector<at::Tensor> ins;
    for (int i = 0; i < 2; ++i) ins.push_back(input_of(row[i].item<int>(), {2, 2}));
    const at::Tensor x = input_of(rank(), {2, 2});
    const std::string what = "mesh dim " + std::to_string(d);
    at::Tensor t = x.clone();
    all_reduce_(t, ReduceOp::Sum, g);
    expect_close(t, ins[0] + ins[1], what);
    at::Tensor out = at::empty({4, 2}, at::kDouble);
    all_gather_into_tensor(out, x, g);
    expect_close(out, at::cat(ins), what);
    expect_close(reduce_scatter(x, 1, ReduceOp::Sum, g),
                 (ins[0] + ins[1]).chunk(2, 1)[g->getRank()], what);
  }
}

}  // namespace

// Every rank exits non-zero when any rank failed.
int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  at::set_num_threads(1);
  dtensor::InitOptions options;
  options.backend = "mpi";
  options.timeout = std::chrono::seconds(30);  // a stuck rank aborts long before CTest's limit
  dtensor::init_process_group(options);
  dtensor::testing::report_only_failures_off_rank_zero(rank());
  const int failed_here = RUN_ALL_TESTS() != 0 ? 1 : 0;
  const int failed =
      all_reduce(at::full({1}, failed_here, at::kInt), ReduceOp::Sum, world()).item<int>();
  if (failed > 0 && rank() == 0) {
    std::fprintf(stderr, "tests failed on %d of %d ranks (see [rank N] lines)\n", failed, size());
  }
  dtensor::destroy_process_group();
  return failed > 0 ? 1 : 0;
}
