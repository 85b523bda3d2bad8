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
// Inputs may be non-contiguous and any dtype/device; outputs are new contiguous tensors. Group
// ranks (not global ranks) name sources. All participants pass tensors of equal shape, except
// where a function says otherwise.
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
