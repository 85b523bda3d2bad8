#include <dtensor/comm.h>

#include <sys/mman.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>

#include <ATen/EmptyTensor.h>
#include <c10/core/Allocator.h>
#include <c10/core/AutogradState.h>
#include <c10/core/InferenceMode.h>

#include <dtensor/runtime.h>
#include <dtensor/runtime/process_group_mpi.h>

#include "comm/observers.h"

namespace dtensor::comm {
namespace {

c10d::ReduceOp to_c10d(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum:
    case ReduceOp::Avg:  // summed, then divided here: neither Gloo nor MPI has an average
      return c10d::ReduceOp::SUM;
    case ReduceOp::Max:
      return c10d::ReduceOp::MAX;
    case ReduceOp::Min:
      return c10d::ReduceOp::MIN;
    case ReduceOp::Product:
      return c10d::ReduceOp::PRODUCT;
  }
  TORCH_INTERNAL_ASSERT(false, "unknown reduce op");
}

void check_avg_dtype(ReduceOp op, const at::Tensor& t) {
  TORCH_CHECK(op != ReduceOp::Avg || at::isFloatingType(t.scalar_type()) ||
                  at::isComplexType(t.scalar_type()),
              "reduce op 'avg' needs a floating point tensor, got ", t.scalar_type(),
              "; use 'sum' and divide yourself");
}

at::Tensor finish_avg(at::Tensor t, ReduceOp op, int64_t n) {
  if (op == ReduceOp::Avg) t.div_(n);
  return t;
}

// Local reduction of the chunks received by an all_to_all (reduce_scatter on Gloo).
at::Tensor reduce_chunks(const at::Tensor& stacked, ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum:
      return stacked.sum(0);
    case ReduceOp::Avg:
      return stacked.mean(0);
    case ReduceOp::Max:
      return std::get<0>(stacked.max(0));
    case ReduceOp::Min:
      return std::get<0>(stacked.min(0));
    case ReduceOp::Product:
      return stacked.prod(0);
  }
  TORCH_INTERNAL_ASSERT(false, "unknown reduce op");
}

ProcessGroupMPI* as_mpi(const Group& g) { return dynamic_cast<ProcessGroupMPI*>(g.get()); }
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
// (its largest mmap threshold), and faulting such a buffer in 4 KiB pages can cost as much as the
// collective itself: writing a fresh 64 MiB buffer took ~31 ms with 4 KiB pages and ~5 ms with
// 2 MiB pages on our 2-core VM (bench/README.md). Such outputs are therefore 2 MiB-aligned and
// advised to use transparent huge pages, which the kernel honours when
// /sys/kernel/mm/transparent_hugepage/enabled is "madvise" or "always".
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

// A new contiguous output buffer.
at::Tensor new_output(at::IntArrayRef sizes, const at::TensorOptions& options) {
  const bool cpu = options.device().is_cpu() && options.layout() == at::kStrided &&
                   !options.pinned_memory();
  if (cpu && huge_pages_wanted()) {
    const auto dtype = c10::typeMetaToScalarType(options.dtype());
    const size_t nbytes = c10::multiply_integers(sizes) * c10::elementSize(dtype);
    if (nbytes >= kHugePageOutputBytes) {
      static HugePageAllocator allocator;
      return at::detail::empty_generic(sizes, &allocator, c10::DispatchKeySet(c10::DispatchKey::CPU),
                                       dtype, c10::nullopt);
    }
  }
  return at::empty(sizes, options);
}

// Under c10::InferenceMode, collectives return inference tensors like every other op. Backends
// write most outputs as raw memory, from any thread, so those buffers are simply allocated in the
// caller's mode. Gloo's allgather is the exception: its worker thread copies each rank's piece
// into our per-rank output views with tensor ops, and InferenceMode is thread-local, so there an
// inference buffer is "an in-place update to an inference tensor outside InferenceMode" (an
// error). That buffer is made a normal tensor (NormalTensorsScope) and handed back as an
// inference tensor over the same memory once the collective is done (inference_alias).
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

// all_gather lands in a [n, *input] buffer; rank r's piece at index r.
at::Tensor stacked_buffer(const at::Tensor& x, int64_t n) {
  std::vector<int64_t> sizes{n};
  sizes.insert(sizes.end(), x.sizes().begin(), x.sizes().end());
  return new_output(sizes, x.options());
}

at::Tensor unstack(const at::Tensor& stacked, const at::Tensor& x, int64_t dim) {
  dim = c10::maybe_wrap_dim(dim, x.dim());  // negative dims count from the end
  auto out_sizes = with_dim(x.sizes(), dim, x.size(dim) * stacked.size(0));
  return dim == 0 ? stacked.view(out_sizes) : stacked.movedim(0, dim).reshape(out_sizes);
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

// The reduced [c, ...] chunk back to `dim` of the input's layout (a copy unless dim is 0).
at::Tensor from_leading(const at::Tensor& t, const at::Tensor& input, int64_t dim) {
  return is_leading(input, dim) ? t : t.movedim(0, dim).contiguous();
}

// Runs a collective, turning any backend failure into a c10::Error that says which collective,
// on which group and rank, failed.
template <class F>
auto guarded(const char* name, const Group& g, F&& f) -> decltype(f()) {
  TORCH_CHECK(g, name, ": no process group (is this rank part of the mesh?)");
  try {
    return f();
  } catch (const std::exception& e) {
    TORCH_CHECK(false, "dtensor ", name, " on a group of ", g->getSize(), " ranks failed on group rank ",
                g->getRank(), ": ", e.what());
  }
}

// Gloo and MPI have no bool type: booleans travel as uint8 and come back as bool. A sum of
// booleans is their `or` and a product their `and` (max and min of 0/1, which cannot overflow).
bool is_bool(const at::Tensor& t) { return t.scalar_type() == at::kBool; }
at::Tensor to_wire(const at::Tensor& t) { return t.to(at::kByte); }
ReduceOp bool_op(ReduceOp op) {
  return op == ReduceOp::Sum ? ReduceOp::Max : op == ReduceOp::Product ? ReduceOp::Min : op;
}
Pending from_wire(Pending bytes) {
  return Pending(c10::intrusive_ptr<c10d::Work>(), [bytes]() mutable { return bytes.wait().to(at::kBool); });
}

at::Tensor wait_work(const c10::intrusive_ptr<c10d::Work>& work) {
  work->wait(wait_timeout());
  return {};
}

// Every participant passes the same shape, so an empty input means that no data moves anywhere;
// Gloo divides by zero on empty buffers (allgather), so such collectives finish locally with an
// empty result of the output's shape (`dims`: the input's sizes with dim d scaled by num/den).
Pending empty_result(const at::Tensor& input, std::vector<std::tuple<int64_t, int64_t, int64_t>> dims) {
  auto sizes = input.sizes().vec();
  for (auto [d, num, den] : dims) {
    d = c10::maybe_wrap_dim(d, input.dim());
    sizes[d] = sizes[d] * num / den;
  }
  return Pending(at::empty(sizes, input.options()));
}

// Asynchronous implementations; the synchronous API waits on them, except on MPI where the
// blocking call on this thread is both faster and bounded by the group's watchdog.
Pending start_all_reduce(const at::Tensor& input, ReduceOp op, const Group& g) {
  check_avg_dtype(op, input);
  if (input.numel() == 0) return empty_result(input, {});
  auto t = new_output(input.sizes(), input.options());
  t.copy_(input);
  const int64_t n = g->getSize();
  c10d::AllreduceOptions opts;
  opts.reduceOp = to_c10d(op);
  std::vector<at::Tensor> ts{t};
  auto work = g->allreduce(ts, opts);
  return Pending(work, [t, op, n]() { return finish_avg(t, op, n); });
}

Pending start_all_gather(const at::Tensor& input, int64_t dim, const Group& g) {
  if (input.numel() == 0) return empty_result(input, {{dim, g->getSize(), 1}});
  auto x = input.contiguous();
  std::vector<at::Tensor> inputs{x};
  if (is_gloo(g)) {
    const bool inference = c10::InferenceMode::is_enabled();
    at::Tensor stacked;
    std::vector<std::vector<at::Tensor>> outputs;
    {
      NormalTensorsScope normal;
      stacked = stacked_buffer(x, g->getSize());
      outputs.push_back(stacked.unbind(0));
    }
    auto work = g->allgather(outputs, inputs);
    return Pending(work, [stacked, x, dim, inference]() {
      return unstack(inference ? inference_alias(stacked) : stacked, x, dim);
    });
  }
  auto stacked = stacked_buffer(x, g->getSize());
  auto flat = stacked.flatten(0, std::min<int64_t>(1, x.dim()));
  auto work = g->_allgather_base(flat, x);
  return Pending(work, [stacked, x, dim]() { return unstack(stacked, x, dim); });
}

// Input moved so that the scattered dim leads: [n * c, ...], chunk r for rank r.
at::Tensor leading(const at::Tensor& input, int64_t dim) {
  return is_leading(input, dim) ? input.contiguous() : input.movedim(dim, 0).contiguous();
}

Pending start_all_to_all(const at::Tensor& input, int64_t split_dim, int64_t concat_dim,
                         const Group& g) {
  const int64_t n = g->getSize();
  TORCH_CHECK(input.size(split_dim) % n == 0, "all_to_all: dim ", split_dim, " of size ",
              input.size(split_dim), " is not divisible by the group size ", n);
  if (input.numel() == 0) return empty_result(input, {{split_dim, 1, n}, {concat_dim, n, 1}});
  auto x = leading(input, split_dim);
  auto out = new_output(x.sizes(), x.options());
  std::vector<int64_t> no_splits;
  auto work = g->alltoall_base(out, x, no_splits, no_splits);
  const bool in_place = all_to_all_in_place(input, split_dim, concat_dim);
  return Pending(work, [out, n, split_dim, concat_dim, in_place]() {
    return finish_all_to_all(out, n, split_dim, concat_dim, in_place);
  });
}

Pending start_reduce_scatter(const at::Tensor& input, int64_t dim, ReduceOp op, const Group& g) {
  check_avg_dtype(op, input);
  const int64_t n = g->getSize();
  TORCH_CHECK(input.size(dim) % n == 0, "reduce_scatter: dim ", dim, " of size ", input.size(dim),
              " is not divisible by the group size ", n);
  if (input.numel() == 0) return empty_result(input, {{dim, 1, n}});
  auto x = leading(input, dim);
  if (is_gloo(g)) {
    // Gloo has no reduce_scatter: an all_to_all of the chunks moves the optimal (n-1)/n bytes,
    // then each rank reduces the n pieces of its own chunk locally.
    auto out = new_output(x.sizes(), x.options());
    std::vector<int64_t> no_splits;
    auto work = g->alltoall_base(out, x, no_splits, no_splits);
    const bool leads = is_leading(input, dim);
    return Pending(work, [out, n, op, dim, leads]() {
      std::vector<int64_t> sizes{n, out.size(0) / n};
      sizes.insert(sizes.end(), out.sizes().begin() + 1, out.sizes().end());
      auto reduced = reduce_chunks(out.view(sizes), op);
      return leads ? reduced : reduced.movedim(0, dim).contiguous();
    });
  }
  auto out = new_output(with_dim(x.sizes(), 0, x.size(0) / n), x.options());
  c10d::ReduceScatterOptions opts;
  opts.reduceOp = to_c10d(op);
  auto work = g->_reduce_scatter_base(out, x, opts);
  const bool leads = is_leading(input, dim);
  return Pending(work, [out, op, n, dim, leads]() {
    auto reduced = finish_avg(out, op, n);
    return leads ? reduced : reduced.movedim(0, dim).contiguous();
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

at::Tensor all_reduce(const at::Tensor& input, ReduceOp op, const Group& g) {
  if (is_bool(input)) return all_reduce(to_wire(input), bool_op(op), g).to(at::kBool);
  return guarded("all_reduce", g, [&] {
    detail::notify("all_reduce", input);
    if (auto* mpi = as_mpi(g)) {
      check_avg_dtype(op, input);
      if (!input.is_contiguous()) {  // the contiguous copy is a fresh buffer: reduce it in place
        auto t = input.contiguous();
        mpi->allreduce_blocking(t, to_c10d(op));
        return finish_avg(t, op, g->getSize());
      }
      auto out = new_output(input.sizes(), input.options());
      mpi->allreduce_blocking(input, out, to_c10d(op));
      return finish_avg(out, op, g->getSize());
    }
    return start_all_reduce(input, op, g).wait();
  });
}

at::Tensor all_gather(const at::Tensor& input, int64_t dim, const Group& g) {
  if (is_bool(input)) return all_gather(to_wire(input), dim, g).to(at::kBool);
  return guarded("all_gather", g, [&] {
    detail::notify("all_gather", input);
    if (auto* mpi = as_mpi(g)) {
      auto x = input.contiguous();
      if (is_leading(x, dim)) {  // rank order along dim 0 is MPI's layout: gather in place
        auto out = new_output(with_dim(x.sizes(), 0, x.size(0) * g->getSize()), x.options());
        mpi->allgather_blocking(x, out);
        return out;
      }
      auto stacked = stacked_buffer(x, g->getSize());
      mpi->allgather_blocking(x, stacked);
      return unstack(stacked, x, dim);
    }
    return start_all_gather(input, dim, g).wait();
  });
}

at::Tensor reduce_scatter(const at::Tensor& input, int64_t dim, ReduceOp op, const Group& g) {
  if (is_bool(input)) return reduce_scatter(to_wire(input), dim, bool_op(op), g).to(at::kBool);
  return guarded("reduce_scatter", g, [&] {
    detail::notify("reduce_scatter", input);
    if (auto* mpi = as_mpi(g)) {
      check_avg_dtype(op, input);
      const int64_t n = g->getSize();
      TORCH_CHECK(input.size(dim) % n == 0, "reduce_scatter: dim ", dim, " of size ",
                  input.size(dim), " is not divisible by the group size ", n);
      auto x = leading(input, dim);
      auto out = new_output(with_dim(x.sizes(), 0, x.size(0) / n), x.options());
      mpi->reduce_scatter_blocking(x, out, to_c10d(op));
      return from_leading(finish_avg(out, op, n), input, dim);
    }
    return start_reduce_scatter(input, dim, op, g).wait();
  });
}

at::Tensor all_to_all(const at::Tensor& input, int64_t split_dim, int64_t concat_dim,
                      const Group& g) {
  if (is_bool(input)) return all_to_all(to_wire(input), split_dim, concat_dim, g).to(at::kBool);
  return guarded("all_to_all", g, [&] {
    detail::notify("all_to_all", input);
    if (auto* mpi = as_mpi(g)) {
      const int64_t n = g->getSize();
      TORCH_CHECK(input.size(split_dim) % n == 0, "all_to_all: dim ", split_dim, " of size ",
                  input.size(split_dim), " is not divisible by the group size ", n);
      auto x = leading(input, split_dim);
      auto out = new_output(x.sizes(), x.options());
      mpi->alltoall_blocking(x, out);
      return finish_all_to_all(out, n, split_dim, concat_dim,
                               all_to_all_in_place(input, split_dim, concat_dim));
    }
    return start_all_to_all(input, split_dim, concat_dim, g).wait();
  });
}

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
      return 0;
    }
    wait_work(g->barrier());
    return 0;
  });
}

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
