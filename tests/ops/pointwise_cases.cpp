#include "pointwise_cases.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <gtest/gtest.h>

#include <dtensor/tensor.h>

namespace dtensor::testing {

at::Tensor call_op(const std::string& full_name, const NamedArgs& args) {
  const auto dot = full_name.find('.');
  const std::string name = full_name.substr(0, dot);
  const std::string overload = dot == std::string::npos ? "" : full_name.substr(dot + 1);
  auto op = c10::Dispatcher::singleton().findSchemaOrThrow(name.c_str(), overload.c_str());
  torch::jit::Stack stack;
  size_t used = 0;
  for (const auto& a : op.schema().arguments()) {
    auto it = std::find_if(args.begin(), args.end(), [&](const auto& p) { return p.first == a.name(); });
    if (it != args.end()) {
      stack.push_back(it->second);
      ++used;
    } else {
      TORCH_CHECK(a.default_value().has_value(), full_name, ": argument '", a.name(), "' missing");
      stack.push_back(*a.default_value());
    }
  }
  TORCH_CHECK(used == args.size(), full_name, ": some arguments do not exist in its schema");
  op.callBoxed(&stack);
  for (const auto& v : stack)
    if (v.isTensor()) return v.toTensor();
  TORCH_CHECK(false, full_name, " returned no tensor");
}

namespace {

NamedArgs bind_args(const Variants& v, const Tensors& x) {
  NamedArgs args = v.scalars;
  for (size_t i = 0; i < v.tensor_args.size(); ++i) args.emplace_back(v.tensor_args[i], x[i]);
  return args;
}

// libtorch lacks some derivatives (remainder's for `other`, asinh_...): gradients are checked
// where the plain reference has them.
bool differentiable(const std::function<Tensors(const Tensors&)>& fn, const Tensors& inputs) {
  Tensors x;
  for (const auto& t : inputs) x.push_back(at::isFloatingType(t.scalar_type()) ? t.clone().requires_grad_(true) : t);
  try {
    at::Tensor loss;
    for (const auto& o : fn(x))
      if (o.requires_grad()) loss = loss.defined() ? loss + o.sum() : o.sum();
    if (loss.defined()) loss.backward();
  } catch (const std::exception&) {  // c10::Error, or std::runtime_error from autograd's not_implemented
    return false;
  }
  return true;
}

OpCase base_case(const Variants& v, const std::string& name) {
  OpCase c;
  c.name = name;
  c.inputs = v.inputs;
  c.check_grads = v.grads;
  c.allow_partial_inputs = v.partial_inputs;
  c.rtol = v.rtol;
  c.atol = v.atol;
  return c;
}

}  // namespace

void add_variants(std::vector<OpCase>& cases, const Variants& v) {
  if (!v.functional.empty() && v.emit_functional) {
    OpCase c = base_case(v, v.functional);
    c.fn = [v](const Tensors& x) { return Tensors{call_op(v.functional, bind_args(v, x))}; };
    c.check_grads = c.check_grads && differentiable(c.fn, c.inputs);
    cases.push_back(std::move(c));
  }
  if (!v.inplace.empty()) {
    OpCase c = base_case(v, v.inplace);
    c.fn = [v](const Tensors& x) {
      Tensors args = x;
      args[0] = x[0].clone();  // keeps x[0]'s placements, which the in-place op must keep
      call_op(v.inplace, bind_args(v, args));
      return Tensors{args[0]};
    };
    c.check_grads = c.check_grads && differentiable(c.fn, c.inputs);
    c.raises = [v](const std::vector<Placements>& ps, const DeviceMesh&) {
      for (size_t m = 0; m < ps[0].size(); ++m) {
        if (!ps[0][m].is_partial()) continue;
        if (v.inplace_partial == InplacePartial::Reduces) return true;
        for (size_t k : v.followers)
          if (ps[k][m].is_shard()) return true;
      }
      return false;
    };
    cases.push_back(std::move(c));
  }
  if (!v.out.empty()) {
    OpCase c = base_case(v, v.out);
    c.check_grads = false;  // out= does not support autograd
    // The result dtype, from the functional form on the plain inputs.
    TORCH_CHECK(!v.functional.empty(), v.out, ": out= variants are checked next to their functional form");
    const auto dtype = call_op(v.functional, bind_args(v, v.inputs)).scalar_type();
    c.fn = [v, dtype](const Tensors& x) {
      auto out = at::empty_like(x[0], x[0].options().dtype(dtype));  // x[0]'s layout, no Partial
      auto args = bind_args(v, x);
      args.emplace_back(v.out_arg, out);
      call_op(v.out, args);
      return Tensors{out};
    };
    cases.push_back(std::move(c));
  }
}

int64_t run_op_table(const std::string& family, int world, const std::vector<OpCase>& cases,
                     size_t max_cases_1d, size_t max_cases_2d) {
  int64_t total = 0;
  auto mesh = init_device_mesh("cpu", {world});
  for (auto c : cases) {
    c.max_cases = max_cases_1d;
    total += check_op(c, mesh);
  }
  if (world == 4) {
    auto mesh2d = init_device_mesh("cpu", {2, 2});
    for (auto c : cases) {
      c.max_cases = max_cases_2d;
      total += check_op(c, mesh2d);
    }
  }
  report_op_cases(family + " (world " + std::to_string(world) + ")", total);
  return total;
}

}  // namespace dtensor::testing
