// The TensorImpl behind every DTensor: the local shard plus its spec. It reports the global
// sizes/strides/dtype, has no storage of its own, and carries the PrivateUse1 dispatch key (plus
// AutogradPrivateUse1 and ADInplaceOrView, added by TensorImpl), so autograd runs above it and the
// dtensor kernel (src/dispatch) below it. Its device is the local tensor's.
#pragma once

#include <optional>

#include <ATen/core/Tensor.h>
#include <c10/core/TensorImpl.h>

#include <dtensor/comm.h>
#include <dtensor/spec.h>

namespace dtensor::detail {

class DTensorImpl final : public c10::TensorImpl {
 public:
  DTensorImpl(at::Tensor local, SpecPtr spec);

  // The local shard; waits first if an asynchronous redistribution produced it.
  const at::Tensor& local() const {
    if (C10_UNLIKELY(pending_.has_value())) finish_pending();
    return local_;
  }
  const SpecPtr& spec() const { return spec_; }
  // Result of an async_op redistribution: collected on first use of local().
  void set_pending(comm::Pending pending) { pending_ = std::move(pending); }
  // In-place ops and set_data: new local and spec, same TensorImpl (and autograd identity).
  void replace(at::Tensor local, SpecPtr spec);

  c10::intrusive_ptr<c10::TensorImpl> shallow_copy_and_detach(
      const c10::VariableVersion& version_counter,
      bool allow_tensor_metadata_change) const override;
  c10::intrusive_ptr<c10::TensorImpl> shallow_copy_and_detach(
      c10::VariableVersion&& version_counter, bool allow_tensor_metadata_change) const override;
  void shallow_copy_from(const c10::intrusive_ptr<c10::TensorImpl>& impl) override;
  const char* tensorimpl_type_name() const override { return "DTensorImpl"; }

 private:
  void finish_pending() const;
  void refresh_metadata();
  template <class VersionCounter>
  c10::intrusive_ptr<c10::TensorImpl> copy_detached(VersionCounter&& version_counter,
                                                    bool allow_tensor_metadata_change) const;

  mutable at::Tensor local_;
  SpecPtr spec_;
  mutable std::optional<comm::Pending> pending_;
};

// nullptr when `t` is not a DTensor. On every argument of every op: the key set to test is a
// constant (DispatchKeySet::has(key) builds it from the key on each call).
inline DTensorImpl* dtensor_impl(const at::Tensor& t) {
  constexpr c10::DispatchKeySet kDTensorKey(c10::DispatchKey::PrivateUse1);
  auto* impl = t.unsafeGetTensorImpl();
  if (impl == nullptr || !impl->key_set().has_all(kDTensorKey)) return nullptr;
  return static_cast<DTensorImpl*>(impl);
}

// Wraps a local tensor (never requiring grad) as a DTensor with `spec`.
at::Tensor make_dtensor(at::Tensor local, SpecPtr spec);

}  // namespace dtensor::detail
