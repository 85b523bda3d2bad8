#include "tensor/dtensor_impl.h"

#include <c10/core/InferenceMode.h>

#include "dispatch/register.h"

namespace dtensor::detail {
namespace {

c10::DispatchKeySet dtensor_keys() { return c10::DispatchKeySet(c10::DispatchKey::PrivateUse1); }

}  // namespace

DTensorImpl::DTensorImpl(at::Tensor local, SpecPtr spec)
    : c10::TensorImpl(dtensor_keys(), local.dtype(), local.device()),
      local_(std::move(local)),
      spec_(std::move(spec)) {
  ensure_kernels_registered();
  // Under InferenceMode TensorImpl's constructor makes an inference tensor (no autograd keys, no
  // version counter). That is right for new results but not for a view of a normal tensor, which
  // libtorch keeps normal (ADInplaceOrView then attaches it to its base's version counter). The
  // local result tells which case this is: a CPU/CUDA view of a normal tensor is normal.
  if (c10::InferenceMode::is_enabled() && !local_.is_inference()) {
    key_set_ = key_set_ | c10::DispatchKeySet(c10::DispatchKey::AutogradPrivateUse1) |
               c10::DispatchKeySet(c10::DispatchKey::ADInplaceOrView);
    version_counter_ = c10::VariableVersion(/*version=*/0);
  }
  // No storage: anything that reaches for data pointers of the global tensor must fail loudly.
  set_storage_access_should_throw();
  refresh_metadata();
}

void DTensorImpl::refresh_metadata() {
  TORCH_INTERNAL_ASSERT(spec_->dtype() == local_.scalar_type(), "DTensor spec dtype ",
                        spec_->dtype(), " differs from its local tensor's ", local_.scalar_type());
  data_type_ = local_.dtype();
  set_sizes_and_strides(spec_->shape(), spec_->meta().stride);
}

void DTensorImpl::replace(at::Tensor local, SpecPtr spec) {
  local_ = std::move(local);
  spec_ = std::move(spec);
  pending_.reset();
  refresh_metadata();
}

void DTensorImpl::finish_pending() const {
  auto pending = std::move(*pending_);
  pending_.reset();
  local_ = pending.wait();
}

template <class VersionCounter>
c10::intrusive_ptr<c10::TensorImpl> DTensorImpl::copy_detached(
    VersionCounter&& version_counter, bool allow_tensor_metadata_change) const {
  auto impl = c10::make_intrusive<DTensorImpl>(local(), spec_);
  copy_tensor_metadata(this, impl.get(), std::forward<VersionCounter>(version_counter),
                       allow_tensor_metadata_change);
  return impl;
}

c10::intrusive_ptr<c10::TensorImpl> DTensorImpl::shallow_copy_and_detach(
    const c10::VariableVersion& version_counter, bool allow_tensor_metadata_change) const {
  return copy_detached(version_counter, allow_tensor_metadata_change);
}

c10::intrusive_ptr<c10::TensorImpl> DTensorImpl::shallow_copy_and_detach(
    c10::VariableVersion&& version_counter, bool allow_tensor_metadata_change) const {
  return copy_detached(std::move(version_counter), allow_tensor_metadata_change);
}

void DTensorImpl::shallow_copy_from(const c10::intrusive_ptr<c10::TensorImpl>& impl) {
  auto* other = dynamic_cast<DTensorImpl*>(impl.get());
  TORCH_CHECK(other != nullptr, "cannot set the data of a DTensor from a plain tensor; wrap it "
              "with DTensor::from_local first");
  copy_tensor_metadata(other, this, version_counter(), allow_tensor_metadata_change());
  replace(other->local(), other->spec());
}

at::Tensor make_dtensor(at::Tensor local, SpecPtr spec) {
  return at::Tensor(c10::make_intrusive<DTensorImpl>(std::move(local), std::move(spec)));
}

}  // namespace dtensor::detail
