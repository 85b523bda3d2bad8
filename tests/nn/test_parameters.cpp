// dtensor::nn::unique_parameters: a tied weight is one parameter (libtorch's parameters() lists it
// once per module holding it).
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>

#include <gtest/gtest.h>

#include <dtensor/nn/parameters.h>

namespace {

// An embedding and an output head sharing one weight ([10, 4] in both).
struct TiedImpl : torch::nn::Module {
  TiedImpl() {
    embed = register_module("embed", torch::nn::Embedding(10, 4));
    head = torch::nn::Linear(torch::nn::LinearOptions(4, 10).bias(false));
    register_module("head", head);
  }
  torch::nn::Embedding embed{nullptr};
  torch::nn::Linear head{nullptr};
};

}  // namespace

TEST(UniqueParameters, TiedWeightCountsOnce) {
  TiedImpl m;
  dtensor::nn::replace_parameter(*m.head, "weight", m.embed->weight);
  const auto all = m.parameters();
  const auto unique = dtensor::nn::unique_parameters(m);
  ASSERT_EQ(all.size(), 2u);  // embed.weight and head.weight, the same tensor
  ASSERT_EQ(unique.size(), 1u);
  EXPECT_TRUE(unique[0].is_same(m.embed->weight));
  EXPECT_TRUE(m.head->weight.is_same(m.embed->weight));
}

TEST(UniqueParameters, DistinctParametersKeepTheirOrder) {
  torch::nn::Linear a(3, 2);
  const auto all = a->parameters();
  const auto unique = dtensor::nn::unique_parameters(*a);
  ASSERT_EQ(unique.size(), all.size());
  for (size_t i = 0; i < all.size(); ++i) EXPECT_TRUE(unique[i].is_same(all[i]));
}
