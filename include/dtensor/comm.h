// The one place every collective of the DTensor layer goes through.
//
// Each function issues one *logical* collective: it is counted once by CommDebugMode under its
// name ("all_reduce", "all_gather", "reduce_scatter", "all_to_all", "broadcast", "scatter"),
// whatever backend calls implement it, and it is bounded by the group's timeout (a missing peer
// raises c10::Error instead of hanging; on MPI the job is aborted, MPI cannot cancel).
//
// Backends differ in what they offer natively; this layer composes the rest without moving more
// bytes than the optimum:
//   all_gather     Gloo: allgather into per-rank views of the output buffer   ((n-1)/n traffic)
//   reduce_scatter Gloo: all_to_all of the input chunks, then a local sum     ((n-1)/n traffic)
//   reduce op avg  Gloo/MPI: sum, then divide by the group size
// The MPI group runs the blocking MPI call on the calling thread (no hand-off latency).
//
// Two families, as in torch.distributed:
// * all_reduce, all_gather, reduce_scatter, all_to_all (and their _async forms) return new
//   contiguous tensors (like torch.distributed._functional_collectives). Inputs may be
//   non-contiguous and any dtype/device. Each call allocates its result: a few hundred nanoseconds,
//   and for large results the page faults of fresh memory, which can cost as much as the
//   collective itself;
// * all_reduce_ (in place), all_gather_into_tensor, reduce_scatter_tensor and all_to_all_single
//   write into tensors the caller owns and may reuse from call to call (torch.distributed's
//   all_reduce, all_gather_into_tensor, reduce_scatter_tensor, all_to_all_single). On MPI they
//   cost the MPI call plus some 20 ns of argument checks: within 10% of raw MPI at 1 KiB, within
//   2% from 16 KiB on (bench/README.md, "Collectives"). Inputs may be non-contiguous (they are
//   copied first); outputs must be contiguous, of the input's dtype and device, and must not
//   overlap the input except where a function says so.
// Group ranks (not global ranks) name sources. All participants pass tensors of equal shape,
// except where a function says otherwise.
//
// CPU outputs of 32 MiB and more are 2 MiB-aligned and advised to use transparent huge pages
// (madvise MADV_HUGEPAGE): glibc maps such buffers afresh on every call, and faulting them in
// 4 KiB pages can cost as much as the collective itself. DTENSOR_HUGEPAGE_OUTPUTS=0 opts out.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/util/intrusive_ptr.h>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>

namespace dtensor::comm {

using Group = c10::intrusive_ptr<c10d::ProcessGroup>;

enum class ReduceOp { Sum, Avg, Max, Min, Product };
// "sum" | "avg" | "max" | "min" | "product"; anything else is an error listing the valid names.
ReduceOp parse_reduce_op(const std::string& name);
const char* reduce_op_name(ReduceOp op);

// A collective in flight (async_op=true). wait() returns the result, waiting at most the group
// timeout; calling it again returns the same tensor.
class Pending {
 public:
  Pending() = default;
  explicit Pending(at::Tensor ready);
  Pending(c10::intrusive_ptr<c10d::Work> work, std::function<at::Tensor()> finish);
  at::Tensor wait();
  bool valid() const { return finish_ != nullptr || result_.defined(); }

 private:
  c10::intrusive_ptr<c10d::Work> work_;
  std::function<at::Tensor()> finish_;
  at::Tensor result_;
};

// Sum/avg/max/min/product over the group; every rank gets the result.
at::Tensor all_reduce(const at::Tensor& input, ReduceOp op, const Group& group);
// Concatenation of every rank's input along `dim` (rank order).
at::Tensor all_gather(const at::Tensor& input, int64_t dim, const Group& group);
// Reduce over the group, then rank r keeps chunk r of `dim` (size divisible by the group size).
at::Tensor reduce_scatter(const at::Tensor& input, int64_t dim, ReduceOp op, const Group& group);
// Rank r sends chunk j of `split_dim` to rank j and concatenates what it receives along
// `concat_dim` (split_dim size divisible by the group size).
at::Tensor all_to_all(const at::Tensor& input, int64_t split_dim, int64_t concat_dim,
                      const Group& group);
// `input` on group rank `src` (shape/dtype of `input` must match on every rank) to every rank.
at::Tensor broadcast(const at::Tensor& input, int src, const Group& group);
// Rank `src` passes one chunk per rank (equal shapes); every rank gets its own. Others pass an
// empty vector and `like` (shape/dtype/device of one chunk).
at::Tensor scatter(const std::vector<at::Tensor>& chunks, const at::Tensor& like, int src,
                   const Group& group);
void barrier(const Group& group);

// ---- into caller-owned tensors -------------------------------------------------------------
// Each is one logical collective for CommDebugMode under the name of its allocating form
// ("all_reduce", "all_gather", "reduce_scatter", "all_to_all") and bounded by the group timeout.
// Layouts are flat, in rank order: "n chunks" means n equal runs of contiguous memory, i.e. a
// concatenation along dim 0 or a stack on a new dim 0 (n = group size).

// `tensor` (contiguous) becomes the reduction over the group.
void all_reduce_(const at::Tensor& tensor, ReduceOp op, const Group& group);
// `output` (n x input.numel() elements) receives n chunks: chunk r is rank r's `input`. `input`
// may be output's own chunk (output.chunk(n)[rank] of a flat output): the in-place form.
void all_gather_into_tensor(const at::Tensor& output, const at::Tensor& input, const Group& group);
// `input` holds n chunks of output.numel() elements; rank r's `output` receives the reduction
// over the group of chunk r.
void reduce_scatter_tensor(const at::Tensor& output, const at::Tensor& input, ReduceOp op,
                           const Group& group);
// Equal splits: chunk j of the input's dim 0 (divisible by n) goes to rank j; `output` (the
// input's element count) receives n chunks, chunk r from rank r.
void all_to_all_single(const at::Tensor& output, const at::Tensor& input, const Group& group);

// Asynchronous forms: issue now, finish on wait().
Pending all_reduce_async(const at::Tensor& input, ReduceOp op, const Group& group);
Pending all_gather_async(const at::Tensor& input, int64_t dim, const Group& group);
Pending reduce_scatter_async(const at::Tensor& input, int64_t dim, ReduceOp op,
                             const Group& group);
Pending all_to_all_async(const at::Tensor& input, int64_t split_dim, int64_t concat_dim,
                         const Group& group);

// Observers of logical collectives (CommDebugMode). Called on the issuing thread with the
// collective's name and the bytes of its local input.
using CollectiveObserver = std::function<void(const char* name, int64_t bytes)>;
int add_observer(CollectiveObserver observer);
void remove_observer(int handle);

}  // namespace dtensor::comm
