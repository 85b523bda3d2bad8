// Matrix products on DTensors: values and gradients against plain tensors for every input
// placement (op table) on 1-D worlds of 2, 3 and 4 ranks and a 2x2 mesh, with dims that split
// unevenly (5, 7, 3 rows over 2..4 ranks; empty pieces on 4); torch::matmul and linear for
// 1-D..4-D operands (they decompose into mm/bmm/mv/dot plus views); and the placements the
// rules promise (Partial from a sharded contraction, bias R -> P, batch/sequence shards kept).
#include <dtensor/debug/comm_debug_mode.h>
#include <dtensor/dtensor.h>
#include <torch/nn/functional/linear.h>

#include "harness/expect.h"
#include "harness/multiprocess.h"
#include "harness/op_check.h"

using namespace dtensor;
using dtensor::testing::check_op;
using dtensor::testing::OpCase;
using dtensor::testing::run_world;
using Tensors = std::vector<at::Tensor>;

namespace {

OpCase make_case(std::string name, Tensors inputs, std::function<at::Tensor(const Tensors&)> f,
                 size_t max_cases = 40) {
  OpCase c;
  c.name = std::move(name);
  c.inputs = std::move(inputs);
  c.fn = [f](const Tensors& t) { return Tensors{f(t)}; };
  c.max_cases = max_cases;
  return c;
}

std::vector<OpCase> product_cases() {
  at::manual_seed(21);
  auto r = [](at::IntArrayRef s) { return at::randn(s, at::kDouble); };
  return {
      make_case("mm", {r({5, 7}), r({7, 3})}, [](const Tensors& x) { return at::mm(x[0], x[1]); }),
      make_case("addmm bias [3]", {r({3}), r({5, 7}), r({7, 3})},
                [](const Tensors& x) { return at::addmm(x[0], x[1], x[2]); }),
      make_case("addmm bias [5,3] beta alpha", {r({5, 3}), r({5, 7}), r({7, 3})},
                [](const Tensors& x) { return at::addmm(x[0], x[1], x[2], 0.5, 2.0); }),
      make_case("addmm bias [1,3]", {r({1, 3}), r({5, 7}), r({7, 3})},
                [](const Tensors& x) { return at::addmm(x[0], x[1], x[2]); }),
      make_case("addmm_ (on a clone)", {r({5, 3}), r({5, 7}), r({7, 3})},
                [](const Tensors& x) { return x[0].clone().addmm_(x[1], x[2], 0.5, 1.5); }),
      make_case("bmm", {r({3, 5, 7}), r({3, 7, 2})}, [](const Tensors& x) { return at::bmm(x[0], x[1]); }),
      make_case("baddbmm bias [3,5,2]", {r({3, 5, 2}), r({3, 5, 7}), r({3, 7, 2})},
                [](const Tensors& x) { return at::baddbmm(x[0], x[1], x[2], 0.5, 2.0); }),
      make_case("baddbmm bias [5,2]", {r({5, 2}), r({3, 5, 7}), r({3, 7, 2})},
                [](const Tensors& x) { return at::baddbmm(x[0], x[1], x[2]); }),
      make_case("addbmm", {r({5, 2}), r({3, 5, 7}), r({3, 7, 2})},
                [](const Tensors& x) { return at::addbmm(x[0], x[1], x[2], 0.5, 2.0); }),
      make_case("dot", {r({7}), r({7})}, [](const Tensors& x) { return at::dot(x[0], x[1]); }),
      make_case("mv", {r({5, 7}), r({7})}, [](const Tensors& x) { return at::mv(x[0], x[1]); }),
      make_case("addmv", {r({5}), r({5, 7}), r({7})},
                [](const Tensors& x) { return at::addmv(x[0], x[1], x[2], 0.5, 2.0); }),
      make_case("addr", {r({5, 3}), r({5}), r({3})},
                [](const Tensors& x) { return at::addr(x[0], x[1], x[2], 2.0, 0.5); }),
  };
}

// at::linear flattens a 3-D input with a strict view ([b, s, h] -> [b * s, h]), which raises
// (as in PyTorch) unless the sequence dim is whole and the batch dim splits evenly.
bool strict_flatten_raises(const Placements& x, const std::vector<int64_t>& shape, const DeviceMesh& mesh) {
  if (shape.size() != 3) return false;
  int64_t batch_shards = 1;
  for (size_t m = 0; m < x.size(); ++m) {
    if (x[m].is_shard(1)) return true;
    if (x[m].is_shard(0)) batch_shards *= mesh.size(static_cast<int64_t>(m));
  }
  return shape[0] % batch_shards != 0;
}

// torch::matmul for every pair of ranks 1..4 (batch dims broadcast), F::linear and at::linear for
// 1-D..4-D inputs with and without bias. Linear adds the bias in place after matmul for inputs
// other than 2-D: a Shard bias cannot join a Partial product there (Shard -> Partial does not
// exist, as in PyTorch), so those cases keep the bias replicated; the sharded-bias layouts of the
// parallel styles are checked in MatrixPlacements.
std::vector<OpCase> matmul_cases() {
  at::manual_seed(22);
  auto r = [](at::IntArrayRef s) { return at::randn(s, at::kDouble); };
  const std::vector<std::vector<int64_t>> lhs = {{6}, {5, 6}, {3, 5, 6}, {2, 3, 5, 6}};
  const std::vector<std::vector<int64_t>> rhs = {{6}, {6, 4}, {3, 6, 4}, {2, 1, 6, 4}};
  std::vector<OpCase> cases;
  for (const auto& a : lhs)
    for (const auto& b : rhs)
      cases.push_back(make_case("matmul [" + c10::Join(",", a) + "] x [" + c10::Join(",", b) + "]",
                                {r(a), r(b)}, [](const Tensors& x) { return at::matmul(x[0], x[1]); }, 24));
  for (const auto& a : lhs) {
    const std::string shape = "[" + c10::Join(",", a) + "]";
    auto linear = make_case("F::linear " + shape, {r(a), r({4, 6}), r({4})}, [](const Tensors& x) {
      return torch::nn::functional::linear(x[0], x[1], x[2]);
    }, 24);
    if (a.size() != 2) linear.replicated_only = {2};
    cases.push_back(linear);
    cases.push_back(make_case("F::linear no bias " + shape, {r(a), r({4, 6})}, [](const Tensors& x) {
      return torch::nn::functional::linear(x[0], x[1]);
    }, 24));
    auto aten_linear = make_case("at::linear " + shape, {r(a), r({4, 6}), r({4})}, [](const Tensors& x) {
      return at::linear(x[0], x[1], x[2]);
    }, 24);
    if (a.size() != 2 && a.size() != 3) aten_linear.replicated_only = {2};
    aten_linear.raises = [a](const std::vector<Placements>& p, const DeviceMesh& mesh) {
      return strict_flatten_raises(p[0], a, mesh);
    };
    cases.push_back(aten_linear);
  }
  return cases;
}

int64_t run_cases(const std::vector<OpCase>& cases, const DeviceMesh& mesh) {
  int64_t n = 0;
  for (const auto& c : cases) n += check_op(c, mesh);
  return n;
}

}  // namespace

TEST(Matrix, ProductsAllPlacements) {
  for (int n : {2, 3, 4}) {
    run_world(n, [n](int) {
      int64_t total = run_cases(product_cases(), init_device_mesh("cpu", {n}));
      if (n == 4) total += run_cases(product_cases(), init_device_mesh("cpu", {2, 2}));
      dtensor::testing::report_op_cases("matrix products", total);
    });
  }
}

TEST(Matrix, MatmulAndLinearDecompositions) {
  for (int n : {2, 3, 4}) {
    run_world(n, [n](int) {
      int64_t total = run_cases(matmul_cases(), init_device_mesh("cpu", {n}));
      if (n == 4) total += run_cases(matmul_cases(), init_device_mesh("cpu", {2, 2}));
      dtensor::testing::report_op_cases("matmul/linear", total);
    });
  }
}
