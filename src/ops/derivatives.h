// DTensor derivative formulas for the few ops whose libtorch formula cannot run on DTensors.
//
// libtorch's autograd kernels rebuild some tensors in backward from saved sizes and options
// instead of from a tensor, which yields a plain tensor even when the forward ran on DTensors:
//   slice_scatter / select_scatter: self's gradient is the op applied to (grad, zeros_like(src)),
//     and zeros_like(src) becomes TypeAndSize::zeros(), a plain tensor of src's global shape,
//     which the dtensor kernel refuses next to the DTensor grad (it cannot know that a plain
//     tensor holds the same values on every rank);
//   cat: a legacy-empty input (1-D, size 0) gets at::zeros({0}, grad.options()), a plain tensor
//     that would land in the DTensor's .grad.
//   index_select, index_put / index_put_ (overwriting): self's gradient starts from at::zeros of
//     self's shape / an index_put of zeros shaped like values, plain tensors again.
// No sharding rule sees these tensors before the dispatcher rejects them, so for these ops we
// register our own autograd kernel under AutogradPrivateUse1 (the autograd key of DTensors only;
// plain tensors keep libtorch's kernel). It runs the op below autograd, like libtorch's kernel,
// and records a node whose backward is written with DTensor ops (zeros_like of a DTensor is a
// DTensor), so every gradient is a DTensor laid out by the ops' sharding rules. In-place ops
// (schema (a!) on self) are recorded as libtorch records them: edges from the inputs' histories
// before the write, self's history rebased onto the node, version counter bumped once. The formulas are
// libtorch's, so the values are the same, and made of differentiable ops (recorded when the
// engine runs with create_graph). Forward-mode AD on these ops raises.
#pragma once

#include <functional>
#include <vector>

#include <ATen/core/Tensor.h>
#include <ATen/core/ivalue.h>

namespace dtensor::ops {

// Gradients of the op's tensor inputs (in argument order, TensorList elements flattened) from the
// gradient of its single Tensor output; `needed[i]` says whether input i's gradient is used (an
// unneeded one may be left undefined).
using Backward = std::function<std::vector<at::Tensor>(const at::Tensor& grad, const std::vector<bool>& needed)>;
// Called at forward time with the op's arguments (only when a gradient will be recorded); returns
// the backward, capturing what it needs: dims and sizes, and input tensors only as SavedTensor.
using MakeBackward = std::function<Backward(c10::ArrayRef<c10::IValue> args)>;

// An input tensor a backward needs (an index, the input of prod), kept as autograd's SavedVariable
// keeps one: if it is modified in place between forward and backward, get() raises instead of
// silently changing the gradient. An undefined tensor (an absent optional index) stays undefined.
class SavedTensor {
 public:
  // `what` names the tensor in the error ("the index of take"); a string literal.
  SavedTensor(at::Tensor tensor, const char* what)
      : tensor_(std::move(tensor)), version_(tensor_.defined() ? tensor_._version() : 0), what_(what) {}
  const at::Tensor& get() const {
    TORCH_CHECK(!tensor_.defined() || tensor_._version() == version_, "dtensor: ", what_,
                ", needed for its gradient, was modified by an in-place operation (version ", version_,
                " when saved, ", tensor_._version(), " now); clone it before modifying it");
    return tensor_;
  }

 private:
  at::Tensor tensor_;
  int64_t version_;
  const char* what_;
};

// Registers the autograd kernel of `op_name` ("aten::cat") for DTensors. The op must return one
// Tensor (for an in-place op: self).
void register_derivative(const char* op_name, MakeBackward make);

}  // namespace dtensor::ops
