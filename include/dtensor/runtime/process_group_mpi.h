// An MPI-backed c10d::ProcessGroup (libtorch's Debian build has none).
//
// Two ways in:
// * the c10d virtuals (allreduce, allgather, _allgather_base, reduce_scatter,
//   _reduce_scatter_base, alltoall_base, broadcast, scatter, gather, barrier, send, recv) return
//   real asynchronous Work: the operation is started with a non-blocking MPI call and Work::wait()
//   drives it to completion, raising a c10::Error once the group timeout has passed;
// * the *_blocking methods, used by dtensor's collective layer, run the blocking MPI collective on
//   the calling thread with no allocation: on one node, shared-memory MPI answers in well under a
//   microsecond and a hand-off to a worker thread would cost more than the collective itself.
//   For the same reason they inspect each tensor once and add only a few nanoseconds of argument
//   checks to the MPI call (bench/README.md, "Collectives").
//   A watchdog thread bounds them: a blocking call that outlives the timeout aborts the job with a
//   message naming the collective, the group and the rank (MPI cannot cancel a collective).
#pragma once

#include <chrono>
#include <vector>

#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>

namespace dtensor {

// Final: the collective layer recognises MPI groups by their exact type (cheaper than a
// dynamic_cast on every collective).
class ProcessGroupMPI final : public c10d::ProcessGroup {
 public:
  // Initialises MPI (MPI_THREAD_MULTIPLE) on first use and returns the MPI_COMM_WORLD group.
  static c10::intrusive_ptr<ProcessGroupMPI> create_world(std::chrono::milliseconds timeout);
  // Collective over all members of this group: returns the group of `ranks` (distinct ranks of
  // this group; new group rank i is ranks[i]) on its members and null elsewhere.
  c10::intrusive_ptr<ProcessGroupMPI> split(const std::vector<int>& ranks);

  ~ProcessGroupMPI() override;
  const std::string getBackendName() const override { return "mpi"; }
  std::chrono::milliseconds timeout() const;

  // Blocking fast path. Tensors are contiguous CPU tensors of equal dtype; outputs are written
  // through the (const) tensor handle, as with ATen's out= arguments.
  void allreduce_blocking(const at::Tensor& tensor, const c10d::ReduceOp& op);  // in place
  // Out of place: `output` (same dtype and numel as `input`, disjoint from it, or the very same
  // memory for in place) receives the reduction; `input` is left as it was.
  void allreduce_blocking(const at::Tensor& input, const at::Tensor& output,
                          const c10d::ReduceOp& op);
  // output: size x input elements, rank order; `input` may be output's own slot (in place).
  void allgather_blocking(const at::Tensor& input, const at::Tensor& output);
  void reduce_scatter_blocking(const at::Tensor& input, const at::Tensor& output,
                               const c10d::ReduceOp& op);
  void alltoall_blocking(const at::Tensor& input, const at::Tensor& output);  // equal dim-0 splits
  void broadcast_blocking(const at::Tensor& tensor, int root);
  void scatter_blocking(const at::Tensor& input /*size*output, on root*/, const at::Tensor& output,
                        int root);
  void barrier_blocking();

  // c10d asynchronous API.
  c10::intrusive_ptr<c10d::Work> broadcast(std::vector<at::Tensor>& tensors,
                                           const c10d::BroadcastOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> allreduce(std::vector<at::Tensor>& tensors,
                                           const c10d::AllreduceOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> allgather(std::vector<std::vector<at::Tensor>>& outputs,
                                           std::vector<at::Tensor>& inputs,
                                           const c10d::AllgatherOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> _allgather_base(at::Tensor& output, at::Tensor& input,
                                                 const c10d::AllgatherOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> reduce_scatter(std::vector<at::Tensor>& outputs,
                                                std::vector<std::vector<at::Tensor>>& inputs,
                                                const c10d::ReduceScatterOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> _reduce_scatter_base(at::Tensor& output, at::Tensor& input,
                                                      const c10d::ReduceScatterOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> alltoall_base(at::Tensor& output, at::Tensor& input,
                                               std::vector<int64_t>& output_split_sizes,
                                               std::vector<int64_t>& input_split_sizes,
                                               const c10d::AllToAllOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> scatter(std::vector<at::Tensor>& outputs,
                                         std::vector<std::vector<at::Tensor>>& inputs,
                                         const c10d::ScatterOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> gather(std::vector<std::vector<at::Tensor>>& outputs,
                                        std::vector<at::Tensor>& inputs,
                                        const c10d::GatherOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> barrier(const c10d::BarrierOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> send(std::vector<at::Tensor>& tensors, int dst, int tag) override;
  c10::intrusive_ptr<c10d::Work> recv(std::vector<at::Tensor>& tensors, int src, int tag) override;

  struct State;  // MPI communicator and watchdog; defined in the .cpp so mpi.h stays private

 private:
  ProcessGroupMPI(std::shared_ptr<State> state, int rank, int size);
  static c10::intrusive_ptr<ProcessGroupMPI> make(std::shared_ptr<State> state);
  std::shared_ptr<State> state_;
};

}  // namespace dtensor
