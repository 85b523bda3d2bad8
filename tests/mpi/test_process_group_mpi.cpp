// ProcessGroupMPI under mpirun. Every rank runs every test in the same order (SPMD); each rank
// computes what a collective must produce from the rank-dependent inputs of all ranks and checks
// its own output. Runs on 4 ranks (2x2 mesh) and 3 ranks (odd world); see CMakeLists.txt.
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <dtensor/runtime/process_group_mpi.h>

#include "spmd_gtest.h"

namespace {

using c10d::ReduceOp;
using dtensor::ProcessGroupMPI;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

c10::intrusive_ptr<ProcessGroupMPI> g_world;  // set by main for the whole run

ProcessGroupMPI& world() { return *g_world; }
// The c10d base, whose virtuals carry the default options (overrides do not inherit defaults).
c10d::ProcessGroup& c10d_world() { return *g_world; }
int rank() { return g_world->getRank(); }
int size() { return g_world->getSize(); }

const std::vector<at::ScalarType> kAllTypes = {at::kFloat, at::kDouble, at::kLong,  at::kHalf,
                                               at::kBFloat16, at::kInt, at::kShort, at::kChar,
                                               at::kByte, at::kBool};
// float, double, int64 and both 2-byte floats: the types every collective is checked with.
const std::vector<at::ScalarType> kMainTypes = {at::kFloat, at::kDouble, at::kLong, at::kHalf,
                                                at::kBFloat16};
const std::vector<ReduceOp::RedOpType> kArithmeticOps = {ReduceOp::SUM, ReduceOp::PRODUCT,
                                                         ReduceOp::MIN, ReduceOp::MAX,
                                                         ReduceOp::AVG};
const std::vector<ReduceOp::RedOpType> kBitwiseOps = {ReduceOp::BAND, ReduceOp::BOR,
                                                      ReduceOp::BXOR};

const char* op_name(ReduceOp::RedOpType op) {
  switch (op) {
    case ReduceOp::SUM: return "SUM";
    case ReduceOp::AVG: return "AVG";
    case ReduceOp::PRODUCT: return "PRODUCT";
    case ReduceOp::MIN: return "MIN";
    case ReduceOp::MAX: return "MAX";
    case ReduceOp::BAND: return "BAND";
    case ReduceOp::BOR: return "BOR";
    default: return "BXOR";
  }
}

bool applies(ReduceOp::RedOpType op, at::ScalarType type) {
  return op != ReduceOp::AVG || at::isFloatingType(type);
}

std::string trace(at::ScalarType type, ReduceOp::RedOpType op) {
  return std::string(c10::toString(type)) + " " + op_name(op);
}

// Reduction input of rank r: small integers 1..3 (0/1 for bool) varying with rank and position,
// so sums, products and means are exact in every dtype and products of 4 ranks fit int8.
at::Tensor reduction_input(int r, int64_t n, at::ScalarType type) {
  at::Tensor values = at::arange(n, at::kLong).add(r).remainder(3).add(1);
  if (type == at::kBool) values = values.remainder(2);
  return values.to(type);
}

// Data-movement input of rank r: values that identify the rank (exact in half and bfloat16).
at::Tensor labelled(int r, int64_t n, at::ScalarType type = at::kFloat) {
  return at::arange(n, at::kLong).add(10 * r).to(type);
}

at::Tensor fold_bitwise(ReduceOp::RedOpType op, const std::vector<at::Tensor>& inputs) {
  at::Tensor result = inputs[0].to(at::kLong);
  for (size_t i = 1; i < inputs.size(); ++i) {
    const at::Tensor next = inputs[i].to(at::kLong);
    result = op == ReduceOp::BAND  ? result.bitwise_and(next)
             : op == ReduceOp::BOR ? result.bitwise_or(next)
                                   : result.bitwise_xor(next);
  }
  return result;
}

// What reducing `inputs` (one per rank) with `op` must give, computed in double.
at::Tensor reference(ReduceOp::RedOpType op, const std::vector<at::Tensor>& inputs) {
  const at::ScalarType type = inputs[0].scalar_type();
  std::vector<at::Tensor> wide;
  for (const at::Tensor& input : inputs) wide.push_back(input.to(at::kDouble));
  const at::Tensor all = at::stack(wide);
  switch (op) {
    case ReduceOp::SUM: return all.sum(0).to(type);
    case ReduceOp::AVG: return all.mean(0).to(type);
    case ReduceOp::PRODUCT: return all.prod(0).to(type);
    case ReduceOp::MIN: return all.amin(0).to(type);
    case ReduceOp::MAX: return all.amax(0).to(type);
    default: return fold_bitwise(op, inputs).to(type);
  }
}

// Reduction of reduction_input over the given ranks.
at::Tensor expected_reduction(ReduceOp::RedOpType op, at::ScalarType type, int64_t n,
                              const std::vector<int>& ranks) {
  std::vector<at::Tensor> inputs;
  for (int r : ranks) inputs.push_back(reduction_input(r, n, type));
  return reference(op, inputs);
}

std::vector<int> all_ranks() {
  std::vector<int> ranks(size());
  for (int r = 0; r < size(); ++r) ranks[r] = r;
  return ranks;
}

void expect_values(const at::Tensor& actual, const at::Tensor& expected) {
  ASSERT_EQ(actual.scalar_type(), expected.scalar_type());
  ASSERT_EQ(actual.sizes(), expected.sizes());
  if (at::isFloatingType(actual.scalar_type())) {
    const double tolerance = actual.element_size() == 2 ? 1e-2 : 1e-6;
    EXPECT_TRUE(at::allclose(actual.to(at::kDouble), expected.to(at::kDouble), tolerance,
                             tolerance))
        << "got\n" << actual << "\nexpected\n" << expected;
  } else {
    EXPECT_TRUE(at::equal(actual, expected)) << "got\n" << actual << "\nexpected\n" << expected;
  }
}

template <typename Body>
void expect_error(Body&& body, const std::string& fragment) {
  try {
    body();
    ADD_FAILURE() << "expected a c10::Error containing \"" << fragment << "\"";
  } catch (const c10::Error& error) {
    const std::string message = error.what_without_backtrace();
    EXPECT_NE(message.find(fragment), std::string::npos) << message;
  }
}

void wait(const c10::intrusive_ptr<c10d::Work>& work) {
  ASSERT_TRUE(work->wait());
  EXPECT_TRUE(work->isCompleted());
  EXPECT_TRUE(work->isSuccess());
}

// Alltoall block that rank `src` sends to rank `dst`.
at::Tensor alltoall_block(int src, int dst, int64_t rows, at::ScalarType type) {
  return at::arange(rows * 3, at::kLong).add(100 * src + 10 * dst).to(type).view({rows, 3});
}

// Rows rank `src` sends to rank `dst` in the explicit-splits alltoall (0..2: empty blocks too).
int64_t uneven_rows(int src, int dst) { return (src + 2 * dst) % 3; }

// ---- blocking fast path ------------------------------------------------------------------------

TEST(Blocking, AllreduceEveryDtypeAndOp) {
  for (at::ScalarType type : kAllTypes) {
    for (ReduceOp::RedOpType op : kArithmeticOps) {
      if (!applies(op, type)) continue;
      SCOPED_TRACE(trace(type, op));
      at::Tensor tensor = reduction_input(rank(), 7, type);
      world().allreduce_blocking(tensor, op);
      expect_values(tensor, expected_reduction(op, type, 7, all_ranks()));
    }
  }
}

TEST(Blocking, AllreduceOutOfPlaceEveryDtypeAndOp) {
  for (at::ScalarType type : kAllTypes) {
    for (ReduceOp::RedOpType op : kArithmeticOps) {
      if (!applies(op, type)) continue;
      SCOPED_TRACE(trace(type, op));
      const at::Tensor input = reduction_input(rank(), 7, type);
      at::Tensor output = at::zeros({7}, type);
      world().allreduce_blocking(input, output, op);
      expect_values(output, expected_reduction(op, type, 7, all_ranks()));
      expect_values(input, reduction_input(rank(), 7, type));  // left as it was
    }
  }
}

TEST(Blocking, AllreduceOutOfPlaceShapesAndAliasing) {
  // Only the element count has to match: a [2, 3] input into a flat output.
  const at::Tensor input = reduction_input(rank(), 6, at::kFloat).view({2, 3});
  at::Tensor flat = at::zeros({6});
  world().allreduce_blocking(input, flat, ReduceOp::SUM);
  expect_values(flat, expected_reduction(ReduceOp::SUM, at::kFloat, 6, all_ranks()));
  // The same tensor as input and output is the in-place form (MPI_IN_PLACE).
  at::Tensor both = reduction_input(rank(), 5, at::kDouble);
  world().allreduce_blocking(both, both, ReduceOp::MAX);
  expect_values(both, expected_reduction(ReduceOp::MAX, at::kDouble, 5, all_ranks()));
  // Every rank passes the same bad arguments, so all fail before any MPI call.
  at::Tensor buffer = at::zeros({8});
  at::Tensor tail = buffer.narrow(0, 2, 6);
  expect_error([&] { world().allreduce_blocking(buffer.narrow(0, 0, 6), tail, ReduceOp::SUM); },
               "overlap");
  at::Tensor short_output = at::zeros({5});
  expect_error([&] { world().allreduce_blocking(at::zeros({6}), short_output, ReduceOp::SUM); },
               "output has 5 elements, expected 6");
  at::Tensor doubles = at::zeros({6}, at::kDouble);
  expect_error([&] { world().allreduce_blocking(at::zeros({6}), doubles, ReduceOp::SUM); },
               "dtypes differ");
  at::Tensor strided = at::zeros({6, 2}).select(1, 0);
  expect_error([&] { world().allreduce_blocking(at::zeros({6}), strided, ReduceOp::SUM); },
               "contiguous");
  world().barrier_blocking();
}

TEST(Blocking, AllreduceBitwiseOps) {
  for (at::ScalarType type : {at::kLong, at::kInt, at::kByte, at::kBool}) {
    for (ReduceOp::RedOpType op : kBitwiseOps) {
      SCOPED_TRACE(trace(type, op));
      at::Tensor tensor = reduction_input(rank(), 7, type);
      world().allreduce_blocking(tensor, op);
      expect_values(tensor, expected_reduction(op, type, 7, all_ranks()));
    }
  }
}

TEST(Blocking, Allgather) {
  for (at::ScalarType type : kMainTypes) {
    SCOPED_TRACE(c10::toString(type));
    at::Tensor output = at::zeros({size() * 5}, type);
    world().allgather_blocking(labelled(rank(), 5, type), output);
    std::vector<at::Tensor> expected;
    for (int r = 0; r < size(); ++r) expected.push_back(labelled(r, 5, type));
    expect_values(output, at::cat(expected));
  }
}

TEST(Blocking, AllgatherInPlace) {
  at::Tensor output = at::zeros({size() * 4});
  const at::Tensor own = output.narrow(0, rank() * 4, 4);
  own.copy_(labelled(rank(), 4));
  world().allgather_blocking(own, output);
  std::vector<at::Tensor> expected;
  for (int r = 0; r < size(); ++r) expected.push_back(labelled(r, 4));
  expect_values(output, at::cat(expected));
}

TEST(Blocking, ReduceScatterEveryDtypeAndOp) {
  for (at::ScalarType type : kMainTypes) {
    for (ReduceOp::RedOpType op : kArithmeticOps) {
      if (!applies(op, type)) continue;
      SCOPED_TRACE(trace(type, op));
      at::Tensor output = at::zeros({3}, type);
      world().reduce_scatter_blocking(reduction_input(rank(), size() * 3, type), output, op);
      const at::Tensor all = expected_reduction(op, type, size() * 3, all_ranks());
      expect_values(output, all.narrow(0, rank() * 3, 3));
    }
  }
}

TEST(Blocking, Alltoall) {
  for (at::ScalarType type : {at::kFloat, at::kDouble, at::kLong, at::kHalf}) {
    SCOPED_TRACE(c10::toString(type));
    std::vector<at::Tensor> sent, expected;
    for (int r = 0; r < size(); ++r) {
      sent.push_back(alltoall_block(rank(), r, 2, type));
      expected.push_back(alltoall_block(r, rank(), 2, type));
    }
    at::Tensor output = at::zeros({size() * 2, 3}, type);
    world().alltoall_blocking(at::cat(sent), output);
    expect_values(output, at::cat(expected));
  }
}

TEST(Blocking, BroadcastFromEveryRoot) {
  for (int root = 0; root < size(); ++root) {
    for (at::ScalarType type : kMainTypes) {
      SCOPED_TRACE(std::string(c10::toString(type)) + " root " + std::to_string(root));
      at::Tensor tensor = labelled(rank(), 6, type);
      world().broadcast_blocking(tensor, root);
      expect_values(tensor, labelled(root, 6, type));
    }
  }
}

TEST(Blocking, ScatterFromEveryRoot) {
  for (int root = 0; root < size(); ++root) {
    for (at::ScalarType type : kMainTypes) {
      SCOPED_TRACE(std::string(c10::toString(type)) + " root " + std::to_string(root));
      std::vector<at::Tensor> parts;
      for (int r = 0; r < size(); ++r) parts.push_back(labelled(r, 4, type));
      const at::Tensor input = rank() == root ? at::cat(parts) : at::Tensor();
      at::Tensor output = at::zeros({4}, type);
      world().scatter_blocking(input, output, root);
      expect_values(output, labelled(rank(), 4, type));
    }
  }
}

TEST(Blocking, ScatterInPlaceAtRoot) {
  const int root = size() - 1;
  std::vector<at::Tensor> parts;
  for (int r = 0; r < size(); ++r) parts.push_back(labelled(r, 4));
  at::Tensor input = at::cat(parts);
  at::Tensor output = rank() == root ? input.narrow(0, root * 4, 4) : at::zeros({4});
  world().scatter_blocking(input, output, root);
  expect_values(output, labelled(rank(), 4));
}

TEST(Blocking, BarrierWaitsForTheLastRank) {
  world().barrier_blocking();
  const Clock::time_point start = Clock::now();
  if (rank() == 0) std::this_thread::sleep_for(150ms);
  world().barrier_blocking();
  EXPECT_GE(Clock::now() - start, 100ms);
}

// ---- asynchronous c10d API ---------------------------------------------------------------------

TEST(Async, AllreduceEveryDtypeAndOp) {
  for (at::ScalarType type : kAllTypes) {
    for (ReduceOp::RedOpType op : kArithmeticOps) {
      if (!applies(op, type)) continue;
      SCOPED_TRACE(trace(type, op));
      std::vector<at::Tensor> tensors = {reduction_input(rank(), 7, type)};
      c10d::AllreduceOptions opts;
      opts.reduceOp = op;
      auto work = world().allreduce(tensors, opts);
      wait(work);
      expect_values(tensors[0], expected_reduction(op, type, 7, all_ranks()));
      ASSERT_EQ(work->result().size(), 1u);
      EXPECT_TRUE(work->result()[0].is_same(tensors[0]));
    }
  }
}

TEST(Async, AllgatherIntoTensorList) {
  for (at::ScalarType type : kMainTypes) {
    SCOPED_TRACE(c10::toString(type));
    std::vector<at::Tensor> inputs = {labelled(rank(), 6, type).view({2, 3})};
    std::vector<std::vector<at::Tensor>> outputs(1);
    for (int r = 0; r < size(); ++r) outputs[0].push_back(at::zeros({2, 3}, type));
    auto work = c10d_world().allgather(outputs, inputs);
    wait(work);
    for (int r = 0; r < size(); ++r) {
      expect_values(outputs[0][r], labelled(r, 6, type).view({2, 3}));
    }
    EXPECT_EQ(work->result().size(), static_cast<size_t>(size()));
  }
}

TEST(Async, AllgatherBase) {
  for (bool in_place : {false, true}) {
    for (at::ScalarType type : kMainTypes) {
      SCOPED_TRACE(std::string(c10::toString(type)) + (in_place ? " in place" : ""));
      at::Tensor output = at::zeros({size() * 5}, type);
      at::Tensor input = in_place ? output.narrow(0, rank() * 5, 5) : at::empty({5}, type);
      input.copy_(labelled(rank(), 5, type));
      wait(c10d_world()._allgather_base(output, input));
      std::vector<at::Tensor> expected;
      for (int r = 0; r < size(); ++r) expected.push_back(labelled(r, 5, type));
      expect_values(output, at::cat(expected));
    }
  }
}

TEST(Async, ReduceScatterFromTensorList) {
  for (at::ScalarType type : kMainTypes) {
    for (ReduceOp::RedOpType op : kArithmeticOps) {
      if (!applies(op, type)) continue;
      SCOPED_TRACE(trace(type, op));
      const at::Tensor flat = reduction_input(rank(), size() * 3, type);
      std::vector<std::vector<at::Tensor>> inputs(1);
      for (int r = 0; r < size(); ++r) inputs[0].push_back(flat.narrow(0, r * 3, 3).clone());
      std::vector<at::Tensor> outputs = {at::zeros({3}, type)};
      c10d::ReduceScatterOptions opts;
      opts.reduceOp = op;
      wait(world().reduce_scatter(outputs, inputs, opts));
      const at::Tensor all = expected_reduction(op, type, size() * 3, all_ranks());
      expect_values(outputs[0], all.narrow(0, rank() * 3, 3));
    }
  }
}

TEST(Async, ReduceScatterBase) {
  for (at::ScalarType type : kMainTypes) {
    for (ReduceOp::RedOpType op : kArithmeticOps) {
      if (!applies(op, type)) continue;
      SCOPED_TRACE(trace(type, op));
      at::Tensor input = reduction_input(rank(), size() * 3, type);
      at::Tensor output = at::zeros({3}, type);
      c10d::ReduceScatterOptions opts;
      opts.reduceOp = op;
      wait(world()._reduce_scatter_base(output, input, opts));
      const at::Tensor all = expected_reduction(op, type, size() * 3, all_ranks());
      expect_values(output, all.narrow(0, rank() * 3, 3));
    }
  }
}

TEST(Async, AlltoallBaseEqualSplits) {
  for (at::ScalarType type : {at::kFloat, at::kDouble, at::kLong, at::kHalf}) {
    SCOPED_TRACE(c10::toString(type));
    std::vector<at::Tensor> sent, expected;
    for (int r = 0; r < size(); ++r) {
      sent.push_back(alltoall_block(rank(), r, 2, type));
      expected.push_back(alltoall_block(r, rank(), 2, type));
    }
    at::Tensor input = at::cat(sent);
    at::Tensor output = at::zeros({size() * 2, 3}, type);
    std::vector<int64_t> no_splits;
    wait(c10d_world().alltoall_base(output, input, no_splits, no_splits));
    expect_values(output, at::cat(expected));
  }
}

TEST(Async, AlltoallBaseExplicitSplits) {
  for (at::ScalarType type : {at::kDouble, at::kLong, at::kHalf}) {
    SCOPED_TRACE(c10::toString(type));
    std::vector<at::Tensor> sent, expected;
    std::vector<int64_t> input_splits, output_splits;
    for (int r = 0; r < size(); ++r) {
      input_splits.push_back(uneven_rows(rank(), r));
      output_splits.push_back(uneven_rows(r, rank()));
      sent.push_back(alltoall_block(rank(), r, input_splits.back(), type));
      expected.push_back(alltoall_block(r, rank(), output_splits.back(), type));
    }
    at::Tensor input = at::cat(sent);
    const at::Tensor expected_output = at::cat(expected);
    at::Tensor output = at::zeros_like(expected_output);
    wait(c10d_world().alltoall_base(output, input, output_splits, input_splits));
    expect_values(output, expected_output);
  }
}

TEST(Async, BroadcastFromEveryRoot) {
  for (int root = 0; root < size(); ++root) {
    for (at::ScalarType type : kMainTypes) {
      SCOPED_TRACE(std::string(c10::toString(type)) + " root " + std::to_string(root));
      std::vector<at::Tensor> tensors = {labelled(rank(), 6, type)};
      c10d::BroadcastOptions opts;
      opts.rootRank = root;
      wait(world().broadcast(tensors, opts));
      expect_values(tensors[0], labelled(root, 6, type));
    }
  }
}

TEST(Async, ScatterFromEveryRoot) {
  for (int root = 0; root < size(); ++root) {
    for (at::ScalarType type : kMainTypes) {
      SCOPED_TRACE(std::string(c10::toString(type)) + " root " + std::to_string(root));
      std::vector<std::vector<at::Tensor>> inputs;
      if (rank() == root) {
        inputs.emplace_back();
        for (int r = 0; r < size(); ++r) inputs[0].push_back(labelled(r, 4, type));
      }
      std::vector<at::Tensor> outputs = {at::zeros({4}, type)};
      c10d::ScatterOptions opts;
      opts.rootRank = root;
      wait(world().scatter(outputs, inputs, opts));
      expect_values(outputs[0], labelled(rank(), 4, type));
    }
  }
}

TEST(Async, GatherToEveryRoot) {
  for (int root = 0; root < size(); ++root) {
    for (at::ScalarType type : kMainTypes) {
      SCOPED_TRACE(std::string(c10::toString(type)) + " root " + std::to_string(root));
      std::vector<at::Tensor> inputs = {labelled(rank(), 4, type)};
      std::vector<std::vector<at::Tensor>> outputs;
      if (rank() == root) {
        outputs.emplace_back();
        for (int r = 0; r < size(); ++r) outputs[0].push_back(at::zeros({4}, type));
      }
      c10d::GatherOptions opts;
      opts.rootRank = root;
      wait(world().gather(outputs, inputs, opts));
      if (rank() != root) continue;
      for (int r = 0; r < size(); ++r) expect_values(outputs[0][r], labelled(r, 4, type));
    }
  }
}

TEST(Async, Barrier) {
  const Clock::time_point start = Clock::now();
  if (rank() == 0) std::this_thread::sleep_for(150ms);
  wait(world().barrier(c10d::BarrierOptions()));
  EXPECT_GE(Clock::now() - start, 100ms);
}

TEST(Async, SendRecvRingWithTags) {
  const int next = (rank() + 1) % size();
  const int previous = (rank() + size() - 1) % size();
  for (at::ScalarType type : kMainTypes) {
    SCOPED_TRACE(c10::toString(type));
    // Receives posted in tag order, sends in the opposite order: tags must do the matching.
    std::vector<at::Tensor> first = {at::zeros({5}, type)}, second = {at::zeros({5}, type)};
    auto receive_first = world().recv(first, previous, 7);
    auto receive_second = world().recv(second, previous, 8);
    std::vector<at::Tensor> send_second = {labelled(rank() + 5, 5, type)};
    std::vector<at::Tensor> send_first = {labelled(rank(), 5, type)};
    auto sent_second = world().send(send_second, next, 8);
    auto sent_first = world().send(send_first, next, 7);
    for (const auto& work : {receive_first, receive_second, sent_second, sent_first}) wait(work);
    expect_values(first[0], labelled(previous, 5, type));
    expect_values(second[0], labelled(previous + 5, 5, type));
    EXPECT_EQ(receive_first->sourceRank(), previous);
    EXPECT_TRUE(receive_first->result()[0].is_same(first[0]));
  }
}

TEST(Async, WaitFromSeveralThreads) {
  std::vector<at::Tensor> tensors = {reduction_input(rank(), 1000, at::kFloat)};
  auto work = c10d_world().allreduce(tensors);
  std::thread other([&] { EXPECT_TRUE(work->wait()); });
  EXPECT_TRUE(work->wait());
  other.join();
  expect_values(tensors[0], expected_reduction(ReduceOp::SUM, at::kFloat, 1000, all_ranks()));
}

TEST(Async, PollingIsCompleted) {
  std::vector<at::Tensor> tensors = {reduction_input(rank(), 16, at::kDouble)};
  c10d::AllreduceOptions opts;
  opts.reduceOp = ReduceOp::AVG;
  auto work = world().allreduce(tensors, opts);
  const Clock::time_point deadline = Clock::now() + 10s;
  while (!work->isCompleted() && Clock::now() < deadline) std::this_thread::yield();
  ASSERT_TRUE(work->isCompleted());
  // AVG's division runs on completion, so it is visible without wait().
  expect_values(tensors[0], expected_reduction(ReduceOp::AVG, at::kDouble, 16, all_ranks()));
}

// ---- subgroups ---------------------------------------------------------------------------------

TEST(Subgroups, RowsAndColumnsOfA2x2Mesh) {
  if (size() != 4) GTEST_SKIP() << "needs 4 ranks";
  // rank = 2 * row + column
  const int row = rank() / 2, column = rank() % 2;
  const auto row0 = world().split({0, 1});
  const auto row1 = world().split({2, 3});
  const auto column0 = world().split({0, 2});
  const auto column1 = world().split({1, 3});
  EXPECT_EQ(row0.defined(), row == 0);
  EXPECT_EQ(row1.defined(), row == 1);
  EXPECT_EQ(column0.defined(), column == 0);
  EXPECT_EQ(column1.defined(), column == 1);
  ProcessGroupMPI& my_row = *(row == 0 ? row0 : row1);
  ProcessGroupMPI& my_column = *(column == 0 ? column0 : column1);
  EXPECT_EQ(my_row.getRank(), column);
  EXPECT_EQ(my_row.getSize(), 2);
  EXPECT_EQ(my_column.getRank(), row);
  EXPECT_EQ(my_column.getSize(), 2);

  at::Tensor across_row = reduction_input(rank(), 5, at::kFloat);
  my_row.allreduce_blocking(across_row, ReduceOp::SUM);
  expect_values(across_row,
                expected_reduction(ReduceOp::SUM, at::kFloat, 5, {2 * row, 2 * row + 1}));

  std::vector<at::Tensor> across_column = {reduction_input(rank(), 5, at::kLong)};
  c10d::AllreduceOptions max;
  max.reduceOp = ReduceOp::MAX;
  wait(my_column.allreduce(across_column, max));
  expect_values(across_column[0],
                expected_reduction(ReduceOp::MAX, at::kLong, 5, {column, column + 2}));

  // Group ranks follow the order of the split: the column allgather lists row 0 first.
  at::Tensor gathered = at::zeros({2 * 3});
  my_column.allgather_blocking(labelled(rank(), 3), gathered);
  expect_values(gathered, at::cat({labelled(column, 3), labelled(column + 2, 3)}));
}

TEST(Subgroups, GroupExcludingRanksIsNullThere) {
  const int last = size() - 1;
  const auto ends = world().split({0, last});
  const bool member = rank() == 0 || rank() == last;
  ASSERT_EQ(ends.defined(), member);
  if (!member) return;
  EXPECT_EQ(ends->getSize(), 2);
  EXPECT_EQ(ends->getRank(), rank() == 0 ? 0 : 1);
  at::Tensor tensor = reduction_input(rank(), 4, at::kDouble);
  ends->allreduce_blocking(tensor, ReduceOp::PRODUCT);
  expect_values(tensor, expected_reduction(ReduceOp::PRODUCT, at::kDouble, 4, {0, last}));

  // Splitting a subgroup: ranks are those of the subgroup.
  const auto only_last = ends->split({1});
  ASSERT_EQ(only_last.defined(), rank() == last);
  if (!only_last.defined()) return;
  EXPECT_EQ(only_last->getSize(), 1);
  at::Tensor alone = labelled(rank(), 3);
  only_last->allreduce_blocking(alone, ReduceOp::SUM);
  expect_values(alone, labelled(rank(), 3));
  wait(only_last->barrier(c10d::BarrierOptions()));
}

TEST(Subgroups, SplitOrderGivesGroupRanks) {
  std::vector<int> reversed;
  for (int r = size() - 1; r >= 0; --r) reversed.push_back(r);
  const auto group = world().split(reversed);
  ASSERT_TRUE(group.defined());
  EXPECT_EQ(group->getRank(), size() - 1 - rank());
  at::Tensor mine = at::full({1}, static_cast<double>(rank()), at::kDouble);
  at::Tensor all = at::empty({size()}, at::kDouble);
  group->allgather_blocking(mine, all);
  expect_values(all, at::tensor(std::vector<double>(reversed.begin(), reversed.end()), at::kDouble));
}

TEST(Subgroups, SplitRejectsBadRanks) {
  expect_error([] { world().split({}); }, "at least one rank");
  expect_error([] { world().split({0, 0}); }, "is repeated");
  expect_error([] { world().split({-1, 0}); }, "rank -1 is not in this group");
  expect_error([] { world().split({0, size()}); }, "is not in this group");
  world().barrier_blocking();  // the errors were local: the world is still in step
}

// ---- timeouts ----------------------------------------------------------------------------------

// Rank 0 waits for a message rank 1 sends only after rank 0's wait has timed out.
void expect_recv_timeout_then_completion(ProcessGroupMPI& group, std::chrono::milliseconds timeout,
                                         std::chrono::milliseconds wait_argument) {
  std::vector<at::Tensor> buffer = {at::zeros({4})};
  c10::intrusive_ptr<c10d::Work> pending;
  if (rank() == 0) {
    pending = group.recv(buffer, 1, 4242);
    const Clock::time_point start = Clock::now();
    expect_error([&] { pending->wait(wait_argument); },
                 "MPI recv on a group of " + std::to_string(size()) +
                     " ranks did not complete within " + std::to_string(timeout.count()) + " ms");
    const Clock::duration elapsed = Clock::now() - start;
    EXPECT_GE(elapsed, timeout);
    EXPECT_LT(elapsed, 1s);
    EXPECT_FALSE(pending->isCompleted());
  }
  world().barrier_blocking();
  if (rank() == 1) {
    std::vector<at::Tensor> message = {at::full({4}, 5.0)};
    wait(group.send(message, 0, 4242));
  }
  if (rank() == 0) {
    wait(pending);  // a timed-out wait leaves the operation pending, not failed
    expect_values(buffer[0], at::full({4}, 5.0));
  }
}

TEST(Timeouts, WaitTimesOutThenCompletes) {
  expect_recv_timeout_then_completion(world(), 200ms, 200ms);
}

TEST(Timeouts, GroupTimeoutAppliesWhenWaitHasNone) {
  const auto impatient = ProcessGroupMPI::create_world(200ms);
  EXPECT_EQ(impatient->timeout(), 200ms);
  expect_recv_timeout_then_completion(*impatient, 200ms, kNoTimeout);
}

TEST(Timeouts, OptionTimeoutBoundsALateCollective) {
  const auto other = ProcessGroupMPI::create_world(30s);
  std::vector<at::Tensor> tensors = {reduction_input(rank(), 8, at::kFloat)};
  c10::intrusive_ptr<c10d::Work> work;
  if (rank() != 1) {
    c10d::AllreduceOptions opts;
    opts.timeout = 150ms;
    work = other->allreduce(tensors, opts);
    expect_error([&] { work->wait(); }, "MPI allreduce on a group of " + std::to_string(size()) +
                                            " ranks did not complete within 150 ms");
  }
  world().barrier_blocking();  // rank 1 joins the allreduce only now
  if (rank() == 1) work = static_cast<c10d::ProcessGroup&>(*other).allreduce(tensors);
  wait(work);
  expect_values(tensors[0], expected_reduction(ReduceOp::SUM, at::kFloat, 8, all_ranks()));
}

TEST(Timeouts, DroppedRecvIsCancelled) {
  at::Tensor abandoned = at::zeros({3});
  if (rank() == 0) {
    std::vector<at::Tensor> buffer = {abandoned};
    world().recv(buffer, 1, 99);  // the Work is dropped at once
  }
  world().barrier_blocking();
  if (rank() == 1) {
    std::vector<at::Tensor> message = {at::full({3}, 7.0)};
    wait(world().send(message, 0, 99));
  }
  if (rank() == 0) {
    // Had the dropped receive stayed posted, it would have taken the message and this one would
    // time out.
    std::vector<at::Tensor> buffer = {at::zeros({3})};
    ASSERT_TRUE(world().recv(buffer, 1, 99)->wait(5s));
    expect_values(buffer[0], at::full({3}, 7.0));
    expect_values(abandoned, at::zeros({3}));
  }
}

// ---- bad inputs: every rank passes the same bad arguments, so all fail before any MPI call -----

TEST(BadInputs, NonContiguousTensor) {
  at::Tensor transposed = at::zeros({4, 4}).t();
  expect_error([&] { world().allreduce_blocking(transposed, ReduceOp::SUM); }, "contiguous");
  std::vector<at::Tensor> tensors = {transposed};
  expect_error([&] { c10d_world().allreduce(tensors); }, "contiguous");
  world().barrier_blocking();
}

TEST(BadInputs, NonCpuTensor) {
  at::Tensor meta = at::empty({4}, at::TensorOptions().device(at::kMeta));
  expect_error([&] { world().allreduce_blocking(meta, ReduceOp::SUM); },
               "MPI process group needs CPU tensors; got meta");
  world().barrier_blocking();
}

TEST(BadInputs, MismatchedDtypesAndSizes) {
  at::Tensor doubles = at::zeros({size() * 2}, at::kDouble);
  expect_error([&] { world().allgather_blocking(at::zeros({2}), doubles); }, "dtypes differ");
  at::Tensor short_output = at::zeros({size() * 2 - 1});
  expect_error([&] { world().allgather_blocking(at::zeros({2}), short_output); },
               "expected " + std::to_string(size() * 2));
  at::Tensor output = at::zeros({2});
  expect_error([&] { world().reduce_scatter_blocking(at::zeros({3}), output, ReduceOp::SUM); },
               "input has 3 elements");
  std::vector<at::Tensor> inputs = {at::zeros({2})};
  std::vector<std::vector<at::Tensor>> too_few = {{at::zeros({2})}};
  expect_error([&] { c10d_world().allgather(too_few, inputs); }, "one tensor per rank");
  world().barrier_blocking();
}

TEST(BadInputs, OneTensorPerCall) {
  std::vector<at::Tensor> two = {at::zeros({2}), at::zeros({2})};
  expect_error([&] { c10d_world().allreduce(two); }, "exactly one tensor");
  std::vector<at::Tensor> none;
  expect_error([&] { c10d_world().broadcast(none); }, "exactly one tensor");
  world().barrier_blocking();
}

TEST(BadInputs, UnsupportedReductions) {
  at::Tensor longs = at::ones({3}, at::kLong);
  expect_error([&] { world().allreduce_blocking(longs, ReduceOp::AVG); },
               "AVG needs a floating-point tensor");
  at::Tensor floats = at::ones({3});
  expect_error([&] { world().allreduce_blocking(floats, ReduceOp::BXOR); }, "bitwise");
  at::Tensor complex = at::ones({3}, at::kComplexFloat);
  expect_error([&] { world().allreduce_blocking(complex, ReduceOp::SUM); },
               "does not support dtype");
  world().barrier_blocking();
}

TEST(BadInputs, RanksOutOfRange) {
  at::Tensor tensor = at::zeros({2});
  expect_error([&] { world().broadcast_blocking(tensor, size()); }, "root");
  std::vector<at::Tensor> tensors = {tensor};
  expect_error([&] { world().send(tensors, -1, 0); }, "destination -1");
  expect_error([&] { world().recv(tensors, size(), 0); }, "source");
  world().barrier_blocking();
}

TEST(BadInputs, OverlappingBuffers) {
  at::Tensor buffer = at::zeros({size() * 2});
  at::Tensor head = buffer.narrow(0, 0, 2);
  expect_error([&] { world().reduce_scatter_blocking(buffer, head, ReduceOp::SUM); }, "overlap");
  world().barrier_blocking();
}

}  // namespace

// Every rank exits non-zero when any rank failed (mpirun would already fail on one), and rank 0,
// whose report only covers itself, says how many ranks failed.
int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  at::set_num_threads(1);
  // Generous timeout: a rank stuck in a blocking collective becomes a watchdog abort long before
  // CTest's limit, and slow oversubscribed cores never trip it.
  g_world = ProcessGroupMPI::create_world(30s);
  dtensor::testing::report_only_failures_off_rank_zero(rank());
  at::Tensor failed_ranks = at::full({1}, RUN_ALL_TESTS() != 0 ? 1 : 0, at::kInt);
  world().allreduce_blocking(failed_ranks, ReduceOp::SUM);
  const int failed = failed_ranks.item<int>();
  if (failed > 0 && rank() == 0) {
    std::fprintf(stderr, "tests failed on %d of %d ranks (see [rank N] lines)\n", failed, size());
  }
  g_world.reset();
  return failed > 0 ? 1 : 0;
}
