// loss_parallel's handlers (see include/dtensor/parallel/loss.h for the maths and collectives).
#include <dtensor/parallel/loss.h>

#include <mutex>

#include <ATen/core/ivalue.h>

#include <dtensor/comm.h>
#include <dtensor/tensor.h>

#include "dispatch/handlers.h"
#include "tensor/dtensor_impl.h"

namespace dtensor::parallel {
namespace {

using detail::dtensor_impl;
using detail::make_dtensor;

const DTensorSpec& logits_spec(const at::Tensor& x, int64_t class_dim) {
  TORCH_CHECK_VALUE(is_dtensor(x), "loss_parallel() needs DTensor logits sharded on dimension ", class_dim,
                    ", got a plain tensor");
  const auto& spec = *dtensor_impl(x)->spec();
  TORCH_CHECK_VALUE(spec.mesh().ndim() == 1,
                    "Currently loss_parallel() only supports input on one-dimensional DeviceMesh. Got logits "
                    "on the ", spec.mesh().ndim(), "-D mesh ", spec.mesh(), " with placements ",
                    to_string(spec.placements()));
  TORCH_CHECK_VALUE(spec.placements()[0].is_shard(class_dim),
                    "loss_parallel() should be enabled only when the input tensor is sharded on dimension ",
                    class_dim, ". Got placements ", to_string(spec.placements()));
  return spec;
}

// A plain target/weight is taken as replicated; a DTensor must be replicated on the 1-D mesh.
at::Tensor replicated_local(const c10::IValue& v, const char* what) {
  if (v.isNone()) return {};
  TORCH_CHECK_TYPE(v.isTensor(), "Unsupported type ", v.tagKind(), " for the ", what);
  const at::Tensor& t = v.toTensor();
  if (!t.defined() || !is_dtensor(t)) return t;
  const auto& p = dtensor_impl(t)->spec()->placements();
  TORCH_CHECK(p == Placements{Replicate{}}, "Expected ", to_string({Replicate{}}), " but got ", to_string(p),
              " for the ", what, ". Under loss_parallel() it must be replicated: a plain tensor or a "
              "Replicate DTensor.");
  return dtensor_impl(t)->local();
}

at::Tensor with_spec_of(const at::Tensor& local, const DTensorSpec& like) {
  TensorMeta meta = like.meta();
  meta.dtype = local.scalar_type();
  meta.stride = contiguous_strides(meta.shape);
  return make_dtensor(local.contiguous(), like.with_meta(meta));
}

at::Tensor replicated_dtensor(const at::Tensor& local, const DeviceMesh& mesh) {
  auto shape = local.sizes().vec();
  return make_dtensor(local.contiguous(),
                      DTensorSpec::make(mesh, {Replicate{}}, TensorMeta{shape, contiguous_strides(shape), local.scalar_type()}));
}

// _log_softmax(self, dim, half_to_float)
void log_softmax(const c10::OperatorHandle&, torch::jit::Stack* stack) {
  auto args = torch::jit::pop(*stack, 3);
  const at::Tensor& x = args[0].toTensor();
  const int64_t dim = c10::maybe_wrap_dim(args[1].toInt(), x.dim());
  const bool half_to_float = args[2].toBool();
  const auto& spec = logits_spec(x, dim);
  const auto group = spec.mesh().get_group(0);
  const at::Tensor& local = dtensor_impl(x)->local();
  // Half and bfloat16 compute in float, as the decomposition PyTorch follows.
  const bool reduced = local.scalar_type() == at::kHalf || local.scalar_type() == at::kBFloat16;
  const auto compute = reduced ? at::kFloat : local.scalar_type();
  auto xl = local.to(compute).contiguous();
  auto stat_shape = xl.sizes().vec();
  stat_shape[dim] = 1;
  // An empty shard (vocab smaller than the world) contributes -inf to the max and 0 to the sum.
  auto max = xl.size(dim) > 0 ? xl.amax(dim, true) : at::full(stat_shape, -INFINITY, xl.options());
  max = comm::all_reduce(max, comm::ReduceOp::Max, group);
  auto shifted = xl - max;
  auto sumexp = comm::all_reduce(shifted.exp().sum(dim, true), comm::ReduceOp::Sum, group);
  auto result = shifted - sumexp.log();
  if (!half_to_float) result = result.to(local.scalar_type());
  stack->emplace_back(with_spec_of(result, spec));
}

// _log_softmax_backward_data(grad_output, output, dim, input_dtype): nll_loss's backward already
// produced the gradient of the logits.
void log_softmax_backward(const c10::OperatorHandle&, torch::jit::Stack* stack) {
  auto args = torch::jit::pop(*stack, 4);
  const at::Tensor& grad = args[0].toTensor();
  const auto dtype = args[3].toScalarType();
  TORCH_CHECK(is_dtensor(grad), "loss_parallel: log_softmax backward expected a DTensor gradient");
  const auto* impl = dtensor_impl(grad);
  stack->emplace_back(with_spec_of(impl->local().to(dtype), *impl->spec()));
}

struct Targets {
  at::Tensor safe;    // ignore_index replaced by 0
  at::Tensor mask;    // target not in this rank's class range
  at::Tensor local;   // class index within this rank's shard (0 where masked)
  at::Tensor ignored; // target == ignore_index
};

Targets localise(const at::Tensor& target, int64_t ignore_index, int64_t offset, int64_t local_classes) {
  Targets t;
  t.ignored = target == ignore_index;
  t.safe = target.masked_fill(t.ignored, 0);
  t.mask = (t.safe < offset) | (t.safe >= offset + local_classes);
  t.local = (t.safe - offset).masked_fill(t.mask, 0);
  return t;
}

// nll_loss on 1-D [C] or 2-D [N, C] log-probabilities sharded on the class dim.
struct NllResult {
  at::Tensor loss;          // reduced or per element, replicated local value
  at::Tensor total_weight;  // plain
};

NllResult nll_forward(const at::Tensor& x_local, const DTensorSpec& spec, int64_t class_dim, const at::Tensor& target,
                      const at::Tensor& weight, int64_t reduction, int64_t ignore_index) {
  const int64_t offset = spec.local_offset()[class_dim] == spec.shape()[class_dim] ? 0 : spec.local_offset()[class_dim];
  const int64_t local_classes = x_local.size(class_dim);
  auto x = x_local;
  if (weight.defined()) x = x * weight.narrow(0, offset, local_classes);
  auto t = localise(target, ignore_index, offset, local_classes);
  auto picked = local_classes > 0 ? x.gather(class_dim, t.local.unsqueeze(class_dim)).squeeze(class_dim)
                                  : at::zeros(target.sizes(), x.options());
  picked = picked.masked_fill(t.mask, 0);
  auto value = comm::all_reduce(picked, comm::ReduceOp::Sum, spec.mesh().get_group(0));
  auto loss = (-value).masked_fill(t.ignored, 0);
  NllResult r;
  if (reduction == at::Reduction::None) {
    r.loss = loss;
    r.total_weight = at::zeros({}, x_local.options());
    return r;
  }
  r.total_weight = weight.defined() ? weight.index_select(0, t.safe.flatten()).masked_fill(t.ignored.flatten(), 0).sum()
                                    : (~t.ignored).sum().to(x_local.scalar_type());
  r.loss = reduction == at::Reduction::Sum ? loss.sum() : loss.sum() / r.total_weight;
  return r;
}

at::Tensor nll_backward(const at::Tensor& grad_output, const at::Tensor& x_local, const DTensorSpec& spec,
                        int64_t class_dim, const at::Tensor& target, const at::Tensor& weight, int64_t reduction,
                        int64_t ignore_index, const at::Tensor& total_weight) {
  const int64_t offset = spec.local_offset()[class_dim] == spec.shape()[class_dim] ? 0 : spec.local_offset()[class_dim];
  const int64_t local_classes = x_local.size(class_dim);
  auto t = localise(target, ignore_index, offset, local_classes);
  // -1 at the target column on the rank owning it; softmax = exp(log-probabilities).
  auto one_hot = at::zeros_like(x_local);
  if (local_classes > 0) {
    one_hot.scatter_(class_dim, t.local.unsqueeze(class_dim), (t.mask.to(x_local.scalar_type()) - 1).unsqueeze(class_dim));
  }
  auto scale = grad_output;
  if (reduction == at::Reduction::Mean) scale = scale / total_weight;
  if (weight.defined()) scale = scale * weight.index_select(0, t.safe.flatten()).view(t.safe.sizes());
  scale = scale.masked_fill(t.ignored, 0);
  if (x_local.dim() > 1) scale = scale.unsqueeze(class_dim);
  return (one_hot + x_local.exp()) * scale;
}

// nll_loss_forward(self, target, weight, reduction, ignore_index) -> (output, total_weight)
void nll_loss_forward(const c10::OperatorHandle&, torch::jit::Stack* stack) {
  auto args = torch::jit::pop(*stack, 5);
  const at::Tensor& x = args[0].toTensor();
  const int64_t class_dim = x.dim() >= 2 ? 1 : 0;
  const auto& spec = logits_spec(x, class_dim);
  auto r = nll_forward(dtensor_impl(x)->local(), spec, class_dim, replicated_local(args[1], "target"),
                       replicated_local(args[2], "weight"), args[3].toInt(), args[4].toInt());
  stack->emplace_back(replicated_dtensor(r.loss, spec.mesh()));
  stack->emplace_back(r.total_weight);
}

// nll_loss_backward(grad_output, self, target, weight, reduction, ignore_index, total_weight)
void nll_loss_backward(const c10::OperatorHandle&, torch::jit::Stack* stack) {
  auto args = torch::jit::pop(*stack, 7);
  const at::Tensor& x = args[1].toTensor();
  const int64_t class_dim = x.dim() >= 2 ? 1 : 0;
  const auto& spec = logits_spec(x, class_dim);
  auto grad = nll_backward(replicated_local(args[0], "gradient"), dtensor_impl(x)->local(), spec, class_dim,
                           replicated_local(args[2], "target"), replicated_local(args[3], "weight"), args[4].toInt(),
                           args[5].toInt(), replicated_local(args[6], "total weight"));
  stack->emplace_back(with_spec_of(grad, spec));
}

// nll_loss2d on [N, C, H, W]: the 2-D path on [N*H*W, C] rows.
at::Tensor rows(const at::Tensor& x4) { return x4.permute({0, 2, 3, 1}).reshape({-1, x4.size(1)}); }

void nll_loss2d_forward(const c10::OperatorHandle&, torch::jit::Stack* stack) {
  auto args = torch::jit::pop(*stack, 5);
  const at::Tensor& x = args[0].toTensor();
  const auto& spec = logits_spec(x, 1);
  const auto target = replicated_local(args[1], "target");
  auto r = nll_forward(rows(dtensor_impl(x)->local()), spec, 1, target.reshape({-1}), replicated_local(args[2], "weight"),
                       args[3].toInt(), args[4].toInt());
  if (args[3].toInt() == at::Reduction::None) r.loss = r.loss.view(target.sizes());
  stack->emplace_back(replicated_dtensor(r.loss, spec.mesh()));
  stack->emplace_back(r.total_weight);
}

void nll_loss2d_backward(const c10::OperatorHandle&, torch::jit::Stack* stack) {
  auto args = torch::jit::pop(*stack, 7);
  const at::Tensor& x = args[1].toTensor();
  const auto& spec = logits_spec(x, 1);
  const auto& local = dtensor_impl(x)->local();
  const auto target = replicated_local(args[2], "target");
  auto grad_rows = nll_backward(replicated_local(args[0], "gradient").reshape(args[4].toInt() == at::Reduction::None ? at::IntArrayRef{-1} : at::IntArrayRef{}),
                                rows(local), spec, 1, target.reshape({-1}), replicated_local(args[3], "weight"),
                                args[4].toInt(), args[5].toInt(), replicated_local(args[6], "total weight"));
  // Back from [N*H*W, C_local] rows to [N, C_local, H, W].
  auto grad = grad_rows.view({local.size(0), local.size(2), local.size(3), local.size(1)}).permute({0, 3, 1, 2});
  stack->emplace_back(with_spec_of(grad, spec));
}

const std::vector<std::pair<const char*, void (*)(const c10::OperatorHandle&, torch::jit::Stack*)>>& handlers() {
  static const std::vector<std::pair<const char*, void (*)(const c10::OperatorHandle&, torch::jit::Stack*)>> h{
      {"aten::_log_softmax", &log_softmax},
      {"aten::_log_softmax_backward_data", &log_softmax_backward},
      {"aten::nll_loss_forward", &nll_loss_forward},
      {"aten::nll_loss_backward", &nll_loss_backward},
      {"aten::nll_loss2d_forward", &nll_loss2d_forward},
      {"aten::nll_loss2d_backward", &nll_loss2d_backward},
  };
  return h;
}

std::mutex g_mutex;
int g_active = 0;  // nested guards share one installation

}  // namespace

LossParallel::LossParallel() : active_(true) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_active++ > 0) return;
  for (const auto& [name, fn] : handlers()) detail::set_op_handler(name, fn);
}

void LossParallel::release() {
  if (!active_) return;
  active_ = false;
  std::lock_guard<std::mutex> lock(g_mutex);
  if (--g_active > 0) return;
  for (const auto& h : handlers()) detail::set_op_handler(h.first, nullptr);
}

LossParallel::~LossParallel() { release(); }

LossParallel::LossParallel(LossParallel&& other) noexcept : active_(other.active_) { other.active_ = false; }

LossParallel& LossParallel::operator=(LossParallel&& other) noexcept {
  if (this != &other) {
    release();
    active_ = other.active_;
    other.active_ = false;
  }
  return *this;
}

LossParallel loss_parallel() { return LossParallel(); }

}  // namespace dtensor::parallel
