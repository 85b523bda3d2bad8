// Hookable module holders: pre-hooks replace tensor arguments, hooks replace outputs, handles remove.
#include <dtensor/dtensor.h>

#include "harness/expect.h"

namespace {

struct TwoArgsImpl : torch::nn::Module {
  std::tuple<at::Tensor, at::Tensor> forward(const at::Tensor& a, int64_t k, at::Tensor b) {
    return {a * k, b + k};
  }
};
DTENSOR_MODULE(TwoArgs);

}  // namespace

TEST(Hooks, PreHooksReplaceTensorArgumentsOnly) {
  TwoArgs m;
  std::vector<int64_t> seen;
  auto h = dtensor::nn::register_forward_pre_hook(*m, [&](torch::nn::Module&, std::vector<at::Tensor>& in) {
    seen.push_back(static_cast<int64_t>(in.size()));
    in[0] = in[0] + 1;
    in[1] = in[1] * 10;
  });
  auto [x, y] = m(at::ones({2}), 3, at::ones({2}));
  EXPECT_EQ(seen, std::vector<int64_t>{2}) << "the int argument is not a tensor input";
  EXPECT_TRUE(x.equal(at::full({2}, 6.0)));
  EXPECT_TRUE(y.equal(at::full({2}, 13.0)));
  h.remove();
  auto [x2, y2] = m(at::ones({2}), 3, at::ones({2}));
  EXPECT_TRUE(x2.equal(at::full({2}, 3.0))) << "removed hook no longer runs";
}

TEST(Hooks, ForwardHooksReplaceOutputsInOrder) {
  dtensor::nn::Linear lin(4, 2);
  std::vector<int> order;
  dtensor::nn::register_forward_hook(*lin, [&](torch::nn::Module&, const std::vector<at::Tensor>& in,
                                               std::vector<at::Tensor>& out) {
    order.push_back(1);
    EXPECT_EQ(in.size(), 1u);
    out[0] = out[0] * 0;
  });
  dtensor::nn::register_forward_hook(*lin, [&](torch::nn::Module&, const std::vector<at::Tensor>&,
                                               std::vector<at::Tensor>& out) {
    order.push_back(2);
    out[0] = out[0] + 7;
  });
  auto y = lin(at::rand({3, 4}));
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
  EXPECT_TRUE(y.equal(at::full({3, 2}, 7.0)));
}

TEST(Hooks, PlainTorchHolderDoesNotRunHooks) {
  torch::nn::Linear plain(4, 2);
  bool ran = false;
  dtensor::nn::register_forward_pre_hook(*plain, [&](torch::nn::Module&, std::vector<at::Tensor>&) { ran = true; });
  plain(at::rand({1, 4}));
  EXPECT_FALSE(ran);
  dtensor::nn::Linear hookable(plain.ptr());
  hookable(at::rand({1, 4}));
  EXPECT_TRUE(ran) << "the same module through a hookable holder runs them";
}

TEST(Hooks, ChangingTheNumberOfInputsIsAnError) {
  dtensor::nn::Linear lin(4, 2);
  dtensor::nn::register_forward_pre_hook(*lin, [](torch::nn::Module&, std::vector<at::Tensor>& in) { in.push_back(in[0]); });
  EXPECT_THROW_MSG(lin(at::rand({1, 4})), c10::Error, "changed the number of tensor inputs");
}

TEST(Parameters, ReplaceUpdatesRegistryAndMember) {
  dtensor::nn::Linear lin(4, 2);
  auto w = at::zeros({2, 4});
  dtensor::nn::replace_parameter(*lin, "weight", w);
  EXPECT_TRUE(lin->weight.is_same(w));
  EXPECT_TRUE(lin->named_parameters()["weight"].is_same(w));
  EXPECT_TRUE(w.requires_grad()) << "requires_grad carried over";
  EXPECT_THROW_MSG(dtensor::nn::replace_parameter(*lin, "gamma", w), c10::Error, "has no parameter 'gamma'");
  dtensor::nn::RMSNorm norm(4);
  EXPECT_TRUE(norm->weight.equal(at::ones({4})));
  auto y = norm(at::ones({2, 4}) * 3);
  EXPECT_TRUE(y.allclose(at::ones({2, 4}), 1e-5, 1e-6));
}

TEST(Parameters, CustomModuleBindsItsMember) {
  struct ScaleImpl : torch::nn::Module {
    ScaleImpl() {
      scale = register_parameter("scale", at::ones({1}));
      dtensor::nn::bind_parameter(*this, "scale", &scale);
    }
    at::Tensor scale;
  };
  auto m = std::make_shared<ScaleImpl>();
  dtensor::nn::replace_parameter(*m, "scale", at::full({1}, 2.0));
  EXPECT_EQ(m->scale.item<double>(), 2.0);
}
