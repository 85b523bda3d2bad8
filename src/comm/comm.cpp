// The collective layer: see include/dtensor/comm.h.
//
// Structure. Every collective has one core that writes into a contiguous buffer it is given:
//   *_into  synchronous: on MPI the blocking call on this thread (ProcessGroupMPI::*_blocking,
//           bounded by the group's watchdog), elsewhere issue_* and a wait bounded by the timeout;
//   issue_* asynchronous: the c10d call plus its post-processing (Gloo compositions, avg), as a
//           Pending that finishes on wait().
// The public forms only validate, notify the observers (CommDebugMode) once, and either pass the
// caller's tensors straight to the core (all_reduce_, all_gather_into_tensor,
// reduce_scatter_tensor, all_to_all_single) or allocate the result and lay it out afterwards
// (all_reduce, all_gather, ...). So both families share one path per backend, and the
// into-caller-memory forms cost the backend call plus argument checks: on MPI, within a few
// percent of the raw MPI call even for 1 KiB (bench/README.md, "Collectives").
#include <dtensor/comm.h>

#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <typeinfo>

#include <ATen/EmptyTensor.h>
#include <c10/core/Allocator.h>
#include <c10/core/AutogradState.h>
#include <c10/core/InferenceMode.h>

#include <dtensor/runtime.h>
#include <dtensor/runtime/process_group_mpi.h>

#include "comm/observers.h"

namespace dtensor::comm {
namespace {

// Sum for Avg too: summed, then divided here, as Gloo has no average.
inline c10d::ReduceOp::RedOpType to_c10d(ReduceOp op) {
  switch (op) {
    case ReduceOp::Max: return c10d::ReduceOp::MAX;
    case ReduceOp::Min: return c10d::ReduceOp::MIN;
    case ReduceOp::Product: return c10d::ReduceOp::PRODUCT;
    default: return c10d::ReduceOp::SUM;
  }
}

// ProcessGroupMPI divides by the group size itself, on raw memory (no ATen op on the hot path).
inline c10d::ReduceOp::RedOpType to_mpi(ReduceOp op) {
  return op == ReduceOp::Avg ? c10d::ReduceOp::AVG : to_c10d(op);
}

// Argument checks run on every collective, which on MPI can take a few hundred nanoseconds: the
// tests are inline, and each message is built by a never-inlined fail_* function, only on failure
// (TORCH_CHECK's message code in place would keep the compiler from inlining the checks).

[[noreturn]] C10_NOINLINE void fail_avg_dtype(const at::Tensor& t) {
  TORCH_CHECK(false, "reduce op 'avg' needs a floating point tensor, got ", t.scalar_type(),
              "; use 'sum' and divide yourself");
}

inline void check_avg_dtype(ReduceOp op, const at::Tensor& t) {
  if (C10_UNLIKELY(op == ReduceOp::Avg && !at::isFloatingType(t.scalar_type()) &&
                   !at::isComplexType(t.scalar_type()))) {
    fail_avg_dtype(t);
  }
}

void divide_if_avg(const at::Tensor& t, ReduceOp op, int64_t n) {
  if (op == ReduceOp::Avg) t.div_(n);
}

// Local reduction over dim 0 of the [n, m] chunks received by an all_to_all (reduce_scatter on
// Gloo), written into the flat `out` of m elements.
void reduce_chunks_into(at::Tensor out, const at::Tensor& stacked, ReduceOp op) {
  const int64_t dim0[] = {0};
  switch (op) {
    case ReduceOp::Sum:
      at::sum_out(out, stacked, dim0);
      return;
    case ReduceOp::Avg:
      at::mean_out(out, stacked, dim0);
      return;
    case ReduceOp::Max:
      at::amax_out(out, stacked, dim0);
      return;
    case ReduceOp::Min:
      at::amin_out(out, stacked, dim0);
      return;
    case ReduceOp::Product:
      at::prod_out(out, stacked, 0);
      return;
  }
  TORCH_INTERNAL_ASSERT(false, "unknown reduce op");
}

// typeid, not dynamic_cast: ProcessGroupMPI is final, so the exact type identifies it, and this
// runs on every collective.
C10_ALWAYS_INLINE ProcessGroupMPI* as_mpi(const Group& g) {
  return typeid(*g) == typeid(ProcessGroupMPI) ? static_cast<ProcessGroupMPI*>(g.get()) : nullptr;
}
bool is_gloo(const Group& g) { return g->getBackendName() == "gloo"; }

std::chrono::milliseconds wait_timeout() {
  return is_initialized() ? get_timeout() : kProcessGroupDefaultTimeout;
}

std::vector<int64_t> with_dim(at::IntArrayRef sizes, int64_t dim, int64_t value) {
  std::vector<int64_t> out(sizes.begin(), sizes.end());
  out[dim] = value;
  return out;
}

// True when `dim` names dim 0 of `t` (negative dims count from the end).
bool is_leading(const at::Tensor& t, int64_t dim) {
  return t.dim() > 0 && c10::maybe_wrap_dim(dim, t.dim()) == 0;
}

// Large outputs get memory of their own. glibc maps every allocation of 32 MiB and more afresh
// (its largest mmap threshold), and faulting such a buffer in 4 KiB pages can cost more than the
// collective itself: a 64 MiB MPI all_to_all took 5.8 ms into a reused output, 35 ms into a fresh
// at::empty one and 8.5 ms into a fresh huge-page one on our 2-core VM (bench/README.md,
// "Collectives"). Such outputs are therefore 2 MiB-aligned and advised to use transparent huge
// pages, which the kernel honours when /sys/kernel/mm/transparent_hugepage/enabled is "madvise"
// or "always". Callers that repeat a collective avoid the faults altogether by passing a reused
// output (all_reduce_, all_gather_into_tensor, reduce_scatter_tensor, all_to_all_single).
constexpr size_t kHugePageOutputBytes = size_t{32} << 20;
constexpr size_t kHugePage = size_t{2} << 20;

bool huge_pages_wanted() {
  static const bool wanted = [] {
    const char* env = std::getenv("DTENSOR_HUGEPAGE_OUTPUTS");
    return env == nullptr || std::string(env) != "0";
  }();
  return wanted;
}

// The block and its size, so that freeing it can be reported to the memory profiler.
struct HugeBlock {
  void* data;
  size_t nbytes;
};

void free_huge(void* ctx) {
  auto* block = static_cast<HugeBlock*>(ctx);
  if (c10::memoryProfilingEnabled()) {
    c10::reportMemoryUsageToProfiler(block->data, -static_cast<int64_t>(block->nbytes), 0, 0,
                                     at::Device(at::kCPU));
  }
  std::free(block->data);
  delete block;
}

class HugePageAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t nbytes) const override {
    auto block = std::make_unique<HugeBlock>(HugeBlock{nullptr, nbytes});
    if (nbytes > 0) {
      TORCH_CHECK(posix_memalign(&block->data, kHugePage, nbytes) == 0,
                  "dtensor: cannot allocate ", nbytes, " bytes for a collective's output");
      // Whole huge pages only; the advice is best effort (harmless without THP support).
      if (nbytes >= kHugePage) madvise(block->data, nbytes & ~(kHugePage - 1), MADV_HUGEPAGE);
      if (c10::memoryProfilingEnabled()) {
        c10::reportMemoryUsageToProfiler(block->data, static_cast<int64_t>(nbytes), 0, 0,
                                         at::Device(at::kCPU));
      }
    }
    void* data = block->data;
    return {data, block.release(), &free_huge, at::Device(at::kCPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return nullptr; }  // ctx differs from data
};

// A new contiguous output buffer. CPU buffers go straight to the CPU allocator: at::empty would
// add only a trip through the dispatcher, about a tenth of a 1 KiB shared-memory collective.
at::Tensor new_output(at::IntArrayRef sizes, const at::TensorOptions& options) {
  const bool cpu = options.device().is_cpu() && options.layout() == at::kStrided &&
                   !options.pinned_memory();
  if (!cpu) return at::empty(sizes, options);
  const auto dtype = c10::typeMetaToScalarType(options.dtype());
  if (huge_pages_wanted()) {
    const size_t nbytes = c10::multiply_integers(sizes) * c10::elementSize(dtype);
    if (nbytes >= kHugePageOutputBytes) {
      static HugePageAllocator allocator;
      return at::detail::empty_generic(sizes, &allocator, c10::DispatchKeySet(c10::DispatchKey::CPU),
                                       dtype, c10::nullopt);
    }
  }
  return at::detail::empty_cpu(sizes, dtype, /*pin_memory=*/false, c10::nullopt);
}

// Under c10::InferenceMode, collectives return inference tensors like every other op. Backends
// write most outputs as raw memory, from any thread, so those buffers are simply allocated in the
// caller's mode. Gloo's allgather is the exception: its worker thread copies each rank's piece
// into our per-rank output views with tensor ops, and InferenceMode is thread-local, so there an
// inference buffer is "an in-place update to an inference tensor outside InferenceMode" (an
// error). all_gather's own buffer is therefore made a normal tensor (NormalTensorsScope) and
// handed back as an inference tensor over the same memory once the collective is done
// (inference_alias); an inference tensor passed to all_gather_into_tensor is filled from a normal
// staging buffer (issue_all_gather).
class NormalTensorsScope {
 public:
  // Clears only the inference flag: c10::InferenceMode(false) would also turn grad mode back on
  // and lift the exclusion of the autograd keys that the caller may rely on.
  NormalTensorsScope() : saved_(c10::AutogradState::get_tls_state()) {
    auto state = saved_;
    state.set_inference_mode(false);
    c10::AutogradState::set_tls_state(state);
  }
  ~NormalTensorsScope() { c10::AutogradState::set_tls_state(saved_); }
  NormalTensorsScope(const NormalTensorsScope&) = delete;
  NormalTensorsScope& operator=(const NormalTensorsScope&) = delete;

 private:
  c10::AutogradState saved_;
};

// An inference tensor over the memory of `t`, a normal tensor that nothing writes any more.
at::Tensor inference_alias(const at::Tensor& t) {
  c10::InferenceMode inference;
  return at::empty({0}, t.options()).set_(t.storage(), t.storage_offset(), t.sizes(), t.strides());
}

// all_gather's buffer for input `x` on `g`: backends gather in rank order along dim 0, so for
// `leads` (gathering on dim 0) it is the result itself, [n * d0, ...]; otherwise [n, *x] with rank
// r's piece at index r, which finish_gather() moves into place.
at::Tensor gather_buffer(const at::Tensor& x, int64_t n, bool leads, const Group& g) {
  std::vector<int64_t> sizes;
  if (leads) {
    sizes = with_dim(x.sizes(), 0, x.size(0) * n);
  } else {
    sizes.push_back(n);
    sizes.insert(sizes.end(), x.sizes().begin(), x.sizes().end());
  }
  c10::optional<NormalTensorsScope> normal;  // Gloo writes it on its own thread
  if (c10::InferenceMode::is_enabled() && is_gloo(g)) normal.emplace();
  return new_output(sizes, x.options());
}

// The gathered buffer as the caller's result: an inference tensor when the caller is in
// InferenceMode (see NormalTensorsScope), concatenated along `dim` unless it leads already.
at::Tensor finish_gather(const at::Tensor& buffer, const at::Tensor& x, int64_t dim, bool leads) {
  const at::Tensor t = c10::InferenceMode::is_enabled() && !buffer.is_inference()
                           ? inference_alias(buffer)
                           : buffer;
  if (leads) return t;
  dim = c10::maybe_wrap_dim(dim, x.dim());  // negative dims count from the end
  auto out_sizes = with_dim(x.sizes(), dim, x.size(dim) * t.size(0));
  return t.movedim(0, dim).reshape(out_sizes);
}

// True when all_to_all's received buffer is already its result: chunk r of the [n * c, ...]
// buffer came from rank r, so with split and concat dims both 0 it is the concatenation.
bool all_to_all_in_place(const at::Tensor& input, int64_t split_dim, int64_t concat_dim) {
  return is_leading(input, split_dim) && is_leading(input, concat_dim);
}

// Otherwise each received chunk goes back to split_dim and they are concatenated on concat_dim.
at::Tensor finish_all_to_all(const at::Tensor& out, int64_t n, int64_t split_dim,
                             int64_t concat_dim, bool in_place) {
  if (in_place) return out;
  std::vector<int64_t> chunk_sizes{n, out.size(0) / n};
  chunk_sizes.insert(chunk_sizes.end(), out.sizes().begin() + 1, out.sizes().end());
  auto chunks = out.view(chunk_sizes).unbind(0);
  for (auto& c : chunks) c = c.movedim(0, split_dim);
  return at::cat(chunks, concat_dim);
}

// Input moved so that the scattered dim leads: [n * c, ...], chunk r for rank r.
at::Tensor leading(const at::Tensor& input, int64_t dim) {
  return is_leading(input, dim) ? input.contiguous() : input.movedim(dim, 0).contiguous();
}

// The reduced [c, ...] chunk back to `dim` of the input's layout (a copy unless dim is 0).
at::Tensor from_leading(const at::Tensor& t, const at::Tensor& input, int64_t dim) {
  return is_leading(input, dim) ? t : t.movedim(0, dim).contiguous();
}

[[noreturn]] C10_NOINLINE void fail_no_group(const char* name) {
  TORCH_CHECK(false, name, ": no process group (is this rank part of the mesh?)");
}

inline void check_group(const char* name, const Group& g) {
  if (C10_UNLIKELY(!g)) fail_no_group(name);
}

// Runs a collective, turning any backend failure into a c10::Error that says which collective,
// on which group and rank, failed.
template <class F>
auto guarded(const char* name, const Group& g, F&& f) -> decltype(f()) {
  check_group(name, g);
  try {
    return f();
  } catch (const std::exception& e) {
    TORCH_CHECK(false, "dtensor ", name, " on a group of ", g->getSize(), " ranks failed on group rank ",
                g->getRank(), ": ", e.what());
  }
}

// Gloo and MPI have no bool type: booleans travel as uint8 and come back as bool. A sum of
// booleans is their `or` and a product their `and` (max and min of 0/1, which cannot overflow).
inline bool is_bool(const at::Tensor& t) { return t.scalar_type() == at::kBool; }
at::Tensor to_wire(const at::Tensor& t) { return t.to(at::kByte); }
ReduceOp bool_op(ReduceOp op) {
  return op == ReduceOp::Sum ? ReduceOp::Max : op == ReduceOp::Product ? ReduceOp::Min : op;
}
Pending from_wire(Pending bytes) {
  return Pending(c10::intrusive_ptr<c10d::Work>(), [bytes]() mutable { return bytes.wait().to(at::kBool); });
}

void wait_work(const c10::intrusive_ptr<c10d::Work>& work) { work->wait(wait_timeout()); }

// Every participant passes the same shape, so an empty input means that no data moves anywhere;
// Gloo divides by zero on empty buffers (allgather), so such collectives finish locally with an
// empty result of the output's shape (`dims`: the input's sizes with dim d scaled by num/den).
at::Tensor empty_result(const at::Tensor& input,
                        std::vector<std::tuple<int64_t, int64_t, int64_t>> dims) {
  auto sizes = input.sizes().vec();
  for (auto [d, num, den] : dims) {
    d = c10::maybe_wrap_dim(d, input.dim());
    sizes[d] = sizes[d] * num / den;
  }
  return at::empty(sizes, input.options());
}

// A Pending that runs `next` on the result of `first` once it is done.
template <class F>
Pending then(Pending first, F next) {
  return Pending(c10::intrusive_ptr<c10d::Work>(),
                 [first, next]() mutable { return next(first.wait()); });
}

// ---- asynchronous cores: contiguous `x`, contiguous `out` of the right element count -----------

Pending issue_all_reduce(const at::Tensor& x, const at::Tensor& out, ReduceOp op, const Group& g) {
  if (!out.is_same(x)) out.copy_(x);
  c10d::AllreduceOptions opts;
  opts.reduceOp = to_c10d(op);
  std::vector<at::Tensor> ts{out};
  auto work = g->allreduce(ts, opts);
  return Pending(work, [out, op, n = g->getSize()]() {
    divide_if_avg(out, op, n);
    return out;
  });
}

// `out` receives every rank's `x` in rank order.
Pending issue_all_gather(const at::Tensor& x, const at::Tensor& out, const Group& g) {
  std::vector<at::Tensor> inputs{x};
  if (is_gloo(g)) {
    // Gloo fills one tensor per rank (views of the output) with tensor ops on its own thread,
    // outside the caller's InferenceMode: an inference output is filled from a normal staging
    // buffer instead (see NormalTensorsScope).
    at::Tensor target = out;
    if (out.is_inference()) {
      NormalTensorsScope normal;
      target = at::empty(out.sizes(), out.options());
    }
    std::vector<int64_t> sizes{g->getSize()};
    sizes.insert(sizes.end(), x.sizes().begin(), x.sizes().end());
    std::vector<std::vector<at::Tensor>> outputs{target.view(sizes).unbind(0)};
    auto work = g->allgather(outputs, inputs);
    if (target.is_same(out)) return Pending(work, [out] { return out; });
    return Pending(work, [out, target] {
      c10::InferenceMode inference;  // the only mode in which an inference tensor may be written
      out.copy_(target);
      return out;
    });
  }
  at::Tensor output = out;  // c10d takes non-const references
  auto work = g->_allgather_base(output, inputs[0]);
  return Pending(work, [out] { return out; });
}

// `x` holds n chunks in rank order; rank r's `out` receives the reduction of chunk r.
Pending issue_reduce_scatter(const at::Tensor& x, const at::Tensor& out, ReduceOp op,
                             const Group& g) {
  const int64_t n = g->getSize();
  at::Tensor input = x.view({-1});
  if (is_gloo(g)) {
    // Gloo has no reduce_scatter: an all_to_all of the chunks moves the optimal (n-1)/n bytes,
    // then each rank reduces the n pieces of its own chunk locally.
    at::Tensor received = at::empty({x.numel()}, x.options());
    std::vector<int64_t> no_splits;
    auto work = g->alltoall_base(received, input, no_splits, no_splits);
    return Pending(work, [out, received, n, op] {
      reduce_chunks_into(out.view({-1}), received.view({n, -1}), op);
      return out;
    });
  }
  at::Tensor flat = out.view({-1});
  c10d::ReduceScatterOptions opts;
  opts.reduceOp = to_c10d(op);
  auto work = g->_reduce_scatter_base(flat, input, opts);
  return Pending(work, [out, op, n] {
    divide_if_avg(out, op, n);
    return out;
  });
}

// Chunk j of `x` (n equal chunks of its memory) to rank j; `out` holds the received chunks in
// rank order. Flat views: equal splits of dim 0 of a contiguous tensor are equal splits of memory.
Pending issue_all_to_all(const at::Tensor& x, const at::Tensor& out, const Group& g) {
  at::Tensor input = x.view({-1});
  at::Tensor output = out.view({-1});
  std::vector<int64_t> no_splits;
  auto work = g->alltoall_base(output, input, no_splits, no_splits);
  return Pending(work, [out] { return out; });
}

// ---- synchronous cores: MPI's blocking call on this thread, else the asynchronous core ---------

C10_ALWAYS_INLINE void all_reduce_into(const at::Tensor& x, const at::Tensor& out, ReduceOp op,
                                        const Group& g) {
  if (auto* mpi = as_mpi(g)) {
    mpi->allreduce_blocking(x, out, to_mpi(op));
  } else {
    issue_all_reduce(x, out, op, g).wait();
  }
}

C10_ALWAYS_INLINE void all_gather_into(const at::Tensor& x, const at::Tensor& out,
                                        const Group& g) {
  if (auto* mpi = as_mpi(g)) {
    mpi->allgather_blocking(x, out);
  } else {
    issue_all_gather(x, out, g).wait();
  }
}

C10_ALWAYS_INLINE void reduce_scatter_into(const at::Tensor& x, const at::Tensor& out,
                                            ReduceOp op, const Group& g) {
  if (auto* mpi = as_mpi(g)) {
    mpi->reduce_scatter_blocking(x, out, to_mpi(op));
  } else {
    issue_reduce_scatter(x, out, op, g).wait();
  }
}

C10_ALWAYS_INLINE void all_to_all_into(const at::Tensor& x, const at::Tensor& out,
                                        const Group& g) {
  if (auto* mpi = as_mpi(g)) {
    mpi->alltoall_blocking(x, out);
  } else {
    issue_all_to_all(x, out, g).wait();
  }
}

// ---- argument checks of the forms that write into caller-given tensors --------------------------
// Made before anything is sent: every rank passes the same shapes, so all fail alike.

[[noreturn]] C10_NOINLINE void fail_undefined(const char* name) {
  TORCH_CHECK_VALUE(false, name, ": undefined tensor");
}

inline void check_defined(const char* name, const at::Tensor& t) {
  if (C10_UNLIKELY(!t.defined())) fail_undefined(name);
}

// Raises the error check_output found.
[[noreturn]] C10_NOINLINE void fail_output(const char* name, const at::Tensor& output,
                                           const at::Tensor& input, int64_t numel,
                                           const char* why) {
  TORCH_CHECK_TYPE(output.scalar_type() == input.scalar_type(), name, ": the output is ",
                   output.scalar_type(), " but the input is ", input.scalar_type(),
                   "; they must have the same dtype");
  TORCH_CHECK_VALUE(output.device() == input.device(), name, ": the output is on ",
                    output.device(), " but the input is on ", input.device());
  TORCH_CHECK_VALUE(output.is_contiguous(), name, ": the output must be contiguous (sizes ",
                    output.sizes(), ", strides ", output.strides(),
                    "); pass a contiguous buffer and copy out of it");
  TORCH_CHECK_VALUE(false, name, ": the output has ", output.numel(), " elements, expected ",
                    numel, " (", why, ")");
}

// `output` must be contiguous, of the input's dtype and device, with `numel` elements (`why`
// says how that number follows from the input).
C10_ALWAYS_INLINE void check_output(const char* name, const at::Tensor& output,
                                     const at::Tensor& input, int64_t numel, const char* why) {
  if (C10_UNLIKELY(output.scalar_type() != input.scalar_type() ||
                   output.device() != input.device() || !output.is_contiguous() ||
                   output.numel() != numel)) {
    fail_output(name, output, input, numel, why);
  }
}

// The caller's buffers as uint8 for backends without bool (see to_wire): `wire` is written
// instead of `output` and copied back afterwards.
template <class F>
void on_wire(const at::Tensor& output, F&& run) {
  at::Tensor wire = at::empty(output.sizes(), output.options().dtype(at::kByte));
  run(wire);
  output.copy_(wire);
}

// ---- asynchronous allocating forms ------------------------------------------------------------

Pending start_all_reduce(const at::Tensor& input, ReduceOp op, const Group& g) {
  check_avg_dtype(op, input);
  if (input.numel() == 0) return Pending(empty_result(input, {}));
  return issue_all_reduce(input, new_output(input.sizes(), input.options()), op, g);
}

Pending start_all_gather(const at::Tensor& input, int64_t dim, const Group& g) {
  const int64_t n = g->getSize();
  if (input.numel() == 0) return Pending(empty_result(input, {{dim, n, 1}}));
  auto x = input.contiguous();
  const bool leads = is_leading(x, dim);
  auto pending = issue_all_gather(x, gather_buffer(x, n, leads, g), g);
  const bool inference = c10::InferenceMode::is_enabled();
  if (leads && !inference) return pending;  // the buffer is the result
  return then(pending, [x, dim, leads, inference](const at::Tensor& buffer) {
    // The caller's InferenceMode is not active where wait() may run: restore it for the result.
    c10::optional<c10::InferenceMode> mode;
    if (inference) mode.emplace();
    return finish_gather(buffer, x, dim, leads);
  });
}

Pending start_reduce_scatter(const at::Tensor& input, int64_t dim, ReduceOp op, const Group& g) {
  check_avg_dtype(op, input);
  const int64_t n = g->getSize();
  TORCH_CHECK(input.size(dim) % n == 0, "reduce_scatter: dim ", dim, " of size ", input.size(dim),
              " is not divisible by the group size ", n);
  if (input.numel() == 0) return Pending(empty_result(input, {{dim, 1, n}}));
  auto x = leading(input, dim);
  auto pending = issue_reduce_scatter(
      x, new_output(with_dim(x.sizes(), 0, x.size(0) / n), x.options()), op, g);
  if (is_leading(input, dim)) return pending;
  return then(pending, [input, dim](const at::Tensor& t) { return from_leading(t, input, dim); });
}

Pending start_all_to_all(const at::Tensor& input, int64_t split_dim, int64_t concat_dim,
                         const Group& g) {
  const int64_t n = g->getSize();
  TORCH_CHECK(input.size(split_dim) % n == 0, "all_to_all: dim ", split_dim, " of size ",
              input.size(split_dim), " is not divisible by the group size ", n);
  if (input.numel() == 0) {
    return Pending(empty_result(input, {{split_dim, 1, n}, {concat_dim, n, 1}}));
  }
  auto x = leading(input, split_dim);
  auto pending = issue_all_to_all(x, new_output(x.sizes(), x.options()), g);
  if (all_to_all_in_place(input, split_dim, concat_dim)) return pending;
  return then(pending, [n, split_dim, concat_dim](const at::Tensor& out) {
    return finish_all_to_all(out, n, split_dim, concat_dim, false);
  });
}

}  // namespace

ReduceOp parse_reduce_op(const std::string& name) {
  if (name == "sum") return ReduceOp::Sum;
  if (name == "avg") return ReduceOp::Avg;
  if (name == "max") return ReduceOp::Max;
  if (name == "min") return ReduceOp::Min;
  if (name == "product") return ReduceOp::Product;
  TORCH_CHECK(false, "unknown reduce op '", name, "': expected sum, avg, max, min or product");
}

const char* reduce_op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum: return "sum";
    case ReduceOp::Avg: return "avg";
    case ReduceOp::Max: return "max";
    case ReduceOp::Min: return "min";
    case ReduceOp::Product: return "product";
  }
  return "?";
}

Pending::Pending(at::Tensor ready) : result_(std::move(ready)) {}
Pending::Pending(c10::intrusive_ptr<c10d::Work> work, std::function<at::Tensor()> finish)
    : work_(std::move(work)), finish_(std::move(finish)) {}

at::Tensor Pending::wait() {
  if (finish_) {
    try {
      if (work_) wait_work(work_);
    } catch (const std::exception& e) {
      TORCH_CHECK(false, "dtensor asynchronous collective failed: ", e.what());
    }
    result_ = finish_();
    finish_ = nullptr;
    work_.reset();
  }
  return result_;
}

// ---- allocating forms --------------------------------------------------------------------------

at::Tensor all_reduce(const at::Tensor& input, ReduceOp op, const Group& g) {
  if (is_bool(input)) return all_reduce(to_wire(input), bool_op(op), g).to(at::kBool);
  return guarded("all_reduce", g, [&] {
    detail::notify("all_reduce", input);
    check_avg_dtype(op, input);
    if (input.numel() == 0) return empty_result(input, {});
    if (!input.is_contiguous()) {  // the contiguous copy is a fresh buffer: reduce it in place
      auto t = input.contiguous();
      all_reduce_into(t, t, op, g);
      return t;
    }
    auto out = new_output(input.sizes(), input.options());
    all_reduce_into(input, out, op, g);
    return out;
  });
}

at::Tensor all_gather(const at::Tensor& input, int64_t dim, const Group& g) {
  if (is_bool(input)) return all_gather(to_wire(input), dim, g).to(at::kBool);
  return guarded("all_gather", g, [&] {
    detail::notify("all_gather", input);
    const int64_t n = g->getSize();
    if (input.numel() == 0) return empty_result(input, {{dim, n, 1}});
    auto x = input.contiguous();
    const bool leads = is_leading(x, dim);
    auto buffer = gather_buffer(x, n, leads, g);
    all_gather_into(x, buffer, g);
    return finish_gather(buffer, x, dim, leads);
  });
}

at::Tensor reduce_scatter(const at::Tensor& input, int64_t dim, ReduceOp op, const Group& g) {
  if (is_bool(input)) return reduce_scatter(to_wire(input), dim, bool_op(op), g).to(at::kBool);
  return guarded("reduce_scatter", g, [&] {
    detail::notify("reduce_scatter", input);
    check_avg_dtype(op, input);
    const int64_t n = g->getSize();
    TORCH_CHECK(input.size(dim) % n == 0, "reduce_scatter: dim ", dim, " of size ",
                input.size(dim), " is not divisible by the group size ", n);
    if (input.numel() == 0) return empty_result(input, {{dim, 1, n}});
    auto x = leading(input, dim);
    auto out = new_output(with_dim(x.sizes(), 0, x.size(0) / n), x.options());
    reduce_scatter_into(x, out, op, g);
    return from_leading(out, input, dim);
  });
}

at::Tensor all_to_all(const at::Tensor& input, int64_t split_dim, int64_t concat_dim,
                      const Group& g) {
  if (is_bool(input)) return all_to_all(to_wire(input), split_dim, concat_dim, g).to(at::kBool);
  return guarded("all_to_all", g, [&] {
    detail::notify("all_to_all", input);
    const int64_t n = g->getSize();
    TORCH_CHECK(input.size(split_dim) % n == 0, "all_to_all: dim ", split_dim, " of size ",
                input.size(split_dim), " is not divisible by the group size ", n);
    if (input.numel() == 0) return empty_result(input, {{split_dim, 1, n}, {concat_dim, n, 1}});
    auto x = leading(input, split_dim);
    auto out = new_output(x.sizes(), x.options());
    all_to_all_into(x, out, g);
    return finish_all_to_all(out, n, split_dim, concat_dim,
                             all_to_all_in_place(input, split_dim, concat_dim));
  });
}

// ---- forms that write into caller-given tensors -----------------------------------------------

void all_reduce_(const at::Tensor& tensor, ReduceOp op, const Group& g) {
  check_group("all_reduce_", g);
  check_defined("all_reduce_", tensor);
  TORCH_CHECK_VALUE(tensor.is_contiguous(), "all_reduce_: the tensor must be contiguous (sizes ",
                    tensor.sizes(), ", strides ", tensor.strides(),
                    "); reduce a contiguous copy, or use all_reduce");
  if (is_bool(tensor)) {
    return on_wire(tensor, [&](const at::Tensor& wire) {
      wire.copy_(tensor);
      all_reduce_(wire, bool_op(op), g);
    });
  }
  check_avg_dtype(op, tensor);
  guarded("all_reduce", g, [&] {
    detail::notify("all_reduce", tensor);
    if (tensor.numel() > 0) all_reduce_into(tensor, tensor, op, g);
  });
}

void all_gather_into_tensor(const at::Tensor& output, const at::Tensor& input, const Group& g) {
  const char* name = "all_gather_into_tensor";
  check_group(name, g);
  check_defined(name, output);
  check_defined(name, input);
  check_output(name, output, input, input.numel() * g->getSize(), "group size x input elements");
  if (is_bool(input)) {
    return on_wire(output, [&](const at::Tensor& wire) {
      all_gather_into_tensor(wire, to_wire(input), g);
    });
  }
  guarded("all_gather", g, [&] {
    detail::notify("all_gather", input);
    if (input.numel() == 0) return;
    const auto x = input.expect_contiguous();  // named: operator* of a temporary would copy
    all_gather_into(*x, output, g);
  });
}

void reduce_scatter_tensor(const at::Tensor& output, const at::Tensor& input, ReduceOp op,
                           const Group& g) {
  const char* name = "reduce_scatter_tensor";
  check_group(name, g);
  check_defined(name, output);
  check_defined(name, input);
  const int64_t n = g->getSize();
  TORCH_CHECK_VALUE(input.numel() % n == 0, name, ": the input's ", input.numel(),
                    " elements do not split evenly over the group size ", n);
  check_output(name, output, input, input.numel() / n, "input elements / group size");
  if (is_bool(input)) {
    return on_wire(output, [&](const at::Tensor& wire) {
      reduce_scatter_tensor(wire, to_wire(input), bool_op(op), g);
    });
  }
  check_avg_dtype(op, input);
  guarded("reduce_scatter", g, [&] {
    detail::notify("reduce_scatter", input);
    if (input.numel() == 0) return;
    const auto x = input.expect_contiguous();
    reduce_scatter_into(*x, output, op, g);
  });
}

void all_to_all_single(const at::Tensor& output, const at::Tensor& input, const Group& g) {
  const char* name = "all_to_all_single";
  check_group(name, g);
  check_defined(name, output);
  check_defined(name, input);
  const int64_t n = g->getSize();
  TORCH_CHECK_VALUE(input.dim() > 0 && input.size(0) % n == 0, name, ": dim 0 of the input ",
                    input.sizes(), " must be divisible by the group size ", n);
  check_output(name, output, input, input.numel(), "the input's element count");
  if (is_bool(input)) {
    return on_wire(output, [&](const at::Tensor& wire) {
      all_to_all_single(wire, to_wire(input), g);
    });
  }
  guarded("all_to_all", g, [&] {
    detail::notify("all_to_all", input);
    if (input.numel() == 0) return;
    const auto x = input.expect_contiguous();
    all_to_all_into(*x, output, g);
  });
}

// ---- broadcast, scatter, barrier ---------------------------------------------------------------

at::Tensor broadcast(const at::Tensor& input, int src, const Group& g) {
  if (is_bool(input)) return broadcast(to_wire(input), src, g).to(at::kBool);
  return guarded("broadcast", g, [&] {
    detail::notify("broadcast", input);
    TORCH_CHECK(src >= 0 && src < g->getSize(), "broadcast: source ", src,
                " is not a rank of the group of ", g->getSize());
    auto t = input.clone(at::MemoryFormat::Contiguous);
    if (auto* mpi = as_mpi(g)) {
      mpi->broadcast_blocking(t, src);
      return t;
    }
    if (t.numel() == 0) return t;  // see empty_result
    c10d::BroadcastOptions opts;
    opts.rootRank = src;
    std::vector<at::Tensor> ts{t};
    wait_work(g->broadcast(ts, opts));
    return t;
  });
}

at::Tensor scatter(const std::vector<at::Tensor>& chunks, const at::Tensor& like, int src,
                   const Group& g) {
  if (is_bool(like)) {
    std::vector<at::Tensor> bytes;
    for (const auto& c : chunks) bytes.push_back(to_wire(c));
    return scatter(bytes, to_wire(like), src, g).to(at::kBool);
  }
  return guarded("scatter", g, [&] {
    detail::notify("scatter", like);
    const int64_t n = g->getSize();
    TORCH_CHECK(src >= 0 && src < n, "scatter: source ", src, " is not a rank of the group of ", n);
    const bool root = g->getRank() == src;
    TORCH_CHECK(!root || static_cast<int64_t>(chunks.size()) == n, "scatter: the source passes ",
                n, " chunks, got ", chunks.size());
    auto out = at::empty(like.sizes(), like.options().memory_format(at::MemoryFormat::Contiguous));
    if (auto* mpi = as_mpi(g)) {
      auto all = root ? at::stack(chunks) : at::Tensor();
      mpi->scatter_blocking(all, out, src);
      return out;
    }
    if (out.numel() == 0) return out;  // see empty_result
    c10d::ScatterOptions opts;
    opts.rootRank = src;
    std::vector<at::Tensor> outputs{out};
    std::vector<std::vector<at::Tensor>> inputs;
    if (root) {
      inputs.emplace_back();
      for (const auto& c : chunks) inputs.back().push_back(c.contiguous());
    }
    wait_work(g->scatter(outputs, inputs, opts));
    return out;
  });
}

void barrier(const Group& g) {
  guarded("barrier", g, [&] {
    if (auto* mpi = as_mpi(g)) {
      mpi->barrier_blocking();
    } else {
      wait_work(g->barrier());
    }
  });
}

// ---- asynchronous forms ------------------------------------------------------------------------

Pending all_reduce_async(const at::Tensor& input, ReduceOp op, const Group& g) {
  if (is_bool(input)) return from_wire(all_reduce_async(to_wire(input), bool_op(op), g));
  return guarded("all_reduce", g, [&] {
    detail::notify("all_reduce", input);
    return start_all_reduce(input, op, g);
  });
}

Pending all_gather_async(const at::Tensor& input, int64_t dim, const Group& g) {
  if (is_bool(input)) return from_wire(all_gather_async(to_wire(input), dim, g));
  return guarded("all_gather", g, [&] {
    detail::notify("all_gather", input);
    return start_all_gather(input, dim, g);
  });
}

Pending reduce_scatter_async(const at::Tensor& input, int64_t dim, ReduceOp op, const Group& g) {
  if (is_bool(input)) return from_wire(reduce_scatter_async(to_wire(input), dim, bool_op(op), g));
  return guarded("reduce_scatter", g, [&] {
    detail::notify("reduce_scatter", input);
    return start_reduce_scatter(input, dim, op, g);
  });
}

Pending all_to_all_async(const at::Tensor& input, int64_t split_dim, int64_t concat_dim,
                         const Group& g) {
  if (is_bool(input)) return from_wire(all_to_all_async(to_wire(input), split_dim, concat_dim, g));
  return guarded("all_to_all", g, [&] {
    detail::notify("all_to_all", input);
    return start_all_to_all(input, split_dim, concat_dim, g);
  });
}

}  // namespace dtensor::comm
