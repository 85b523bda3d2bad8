// dtensor::nn::ModuleHolder<Impl>: a drop-in for torch::nn::ModuleHolder<Impl> whose call operator
// runs the module's forward pre-hooks and forward hooks (dtensor/nn/hooks.h), so parallel styles
// can act on a module's inputs and outputs. Without hooks it costs one registry lookup.
//
//   struct MLPImpl : torch::nn::Module { dtensor::nn::Linear net1{nullptr}, net2{nullptr}; ... };
//   DTENSOR_MODULE(MLP);   // like TORCH_MODULE(MLP), but hookable
#pragma once

#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <torch/nn/pimpl.h>

#include <dtensor/nn/hooks.h>

namespace dtensor::nn {
namespace detail {

template <class A>
constexpr bool is_tensor_v = std::is_base_of_v<at::Tensor, std::decay_t<A>>;  // DTensor handles too

// Position of argument I among the tensor arguments.
template <size_t I, class... Args>
constexpr size_t tensor_index() {
  size_t n = 0, i = 0;
  ((n += (i++ < I && is_tensor_v<Args>) ? 1 : 0), ...);
  return n;
}

template <size_t I, class... Args, class A>
decltype(auto) pick(std::vector<at::Tensor>& tensors, A&& a) {
  if constexpr (is_tensor_v<A>) {
    return at::Tensor(tensors[tensor_index<I, Args...>()]);
  } else {
    return std::forward<A>(a);
  }
}

template <class Impl, class... Args, size_t... I>
auto call_with(Impl& impl, std::vector<at::Tensor>& tensors, std::index_sequence<I...>, Args&&... args) {
  return impl.forward(pick<I, Args...>(tensors, std::forward<Args>(args))...);
}

template <class T>
struct is_tensor_tuple : std::false_type {};
template <class... T>
struct is_tensor_tuple<std::tuple<T...>> : std::bool_constant<(is_tensor_v<T> && ...)> {};

template <class R>
std::vector<at::Tensor> outputs_of(const R& out) {
  if constexpr (is_tensor_v<R>) {
    return {out};
  } else if constexpr (is_tensor_tuple<R>::value) {
    return std::apply([](const auto&... t) { return std::vector<at::Tensor>{t...}; }, out);
  } else {
    TORCH_CHECK(false, "forward hooks need forward() to return a Tensor or a tuple of Tensors");
  }
}

template <class R, size_t... I>
R tuple_from(const std::vector<at::Tensor>& outs, std::index_sequence<I...>) {
  return R{outs[I]...};
}

template <class R>
R outputs_to(const std::vector<at::Tensor>& outs) {
  if constexpr (is_tensor_v<R>) {
    TORCH_CHECK(outs.size() == 1, "a forward hook returned ", outs.size(), " outputs for a module returning one Tensor");
    return outs[0];
  } else {
    TORCH_CHECK(outs.size() == std::tuple_size_v<R>, "a forward hook returned ", outs.size(),
                " outputs for a module returning ", std::tuple_size_v<R>);
    return tuple_from<R>(outs, std::make_index_sequence<std::tuple_size_v<R>>{});
  }
}

template <class Impl, class... Args>
auto forward_with_hooks(Impl& impl, const ModuleHooks& hooks, Args&&... args) {
  using R = decltype(impl.forward(std::forward<Args>(args)...));
  ForwardScope scope(hooks.path);
  std::vector<at::Tensor> inputs;
  ([&](const auto& a) {
    if constexpr (is_tensor_v<decltype(a)>) inputs.push_back(a);
  }(args), ...);
  const size_t n = inputs.size();
  for (const auto& hook : hooks.pre) {
    hook(impl, inputs);
    TORCH_CHECK(inputs.size() == n, "a forward pre-hook changed the number of tensor inputs from ", n,
                " to ", inputs.size(), "; C++ forward signatures are fixed");
  }
  R out = call_with(impl, inputs, std::index_sequence_for<Args...>{}, std::forward<Args>(args)...);
  if constexpr (is_tensor_v<R> || is_tensor_tuple<R>::value) {
    if (!hooks.post.empty()) {
      auto outs = outputs_of(out);
      for (const auto& hook : hooks.post) hook(impl, inputs, outs);
      out = outputs_to<R>(outs);
    }
  } else {
    TORCH_CHECK(hooks.post.empty(), "forward hooks need forward() to return a Tensor or a tuple of Tensors");
  }
  return out;
}

}  // namespace detail

template <class Impl>
class ModuleHolder : public torch::nn::ModuleHolder<Impl> {
 public:
  using torch::nn::ModuleHolder<Impl>::ModuleHolder;
  using Base = torch::nn::ModuleHolder<Impl>;

  template <typename... Args>
  auto operator()(Args&&... args) -> decltype(std::declval<Impl&>().forward(std::forward<Args>(args)...)) {
    Impl& impl = *this->impl_;
    auto hooks = detail::hooks_of(impl);
    if (hooks.empty()) return impl.forward(std::forward<Args>(args)...);
    return detail::forward_with_hooks(impl, hooks, std::forward<Args>(args)...);
  }
};

}  // namespace dtensor::nn

// Like TORCH_MODULE(Name) for a `NameImpl` module, but hookable.
#define DTENSOR_MODULE(Name)                                              \
  class Name : public ::dtensor::nn::ModuleHolder<Name##Impl> {           \
   public:                                                                \
    using ::dtensor::nn::ModuleHolder<Name##Impl>::ModuleHolder;          \
    using Impl = Name##Impl;                                              \
  }
