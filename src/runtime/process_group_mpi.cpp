// ProcessGroupMPI: see the header for the two paths (blocking fast path, asynchronous c10d API).
//
// Process-wide pieces live here too: MpiEnvironment (MPI initialisation/finalisation and the
// reduction ops for 2-byte floats) and Watchdog (one thread per process that bounds blocking
// collectives and finishes requests whose Work was dropped early).
#include <dtensor/runtime/process_group_mpi.h>

// The C API only: Open MPI's deprecated C++ bindings would need libmpi_cxx, which we do not link.
#define OMPI_SKIP_MPICXX 1
#include <mpi.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <climits>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <thread>
#include <type_traits>

namespace dtensor {

using Clock = std::chrono::steady_clock;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using RedOpType = c10d::ReduceOp::RedOpType;

struct ProcessGroupMPI::State {
  State(MPI_Comm comm, milliseconds timeout);  // takes ownership of comm
  ~State();
  State(const State&) = delete;
  State& operator=(const State&) = delete;

  MPI_Comm comm;
  milliseconds timeout;
  int rank = 0;
  int size = 0;
  int world_rank = 0;  // for messages: a subgroup rank alone does not identify the process

  // Published by the thread running a blocking collective, read by the watchdog. MPI forbids
  // concurrent collectives on one communicator, so there is a single writer at a time.
  std::atomic<const char*> blocking_op{nullptr};
  std::atomic<uint64_t> blocking_seq{0};  // odd while a blocking collective runs

  // Watchdog bookkeeping, guarded by the watchdog's mutex.
  uint64_t seen_seq = 0;
  Clock::time_point seen_since;
};

namespace {

// ---- MPI error handling ----------------------------------------------------------------------

std::string mpi_error_string(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  return std::string(text, length);
}

// Checks on the blocking path run on every collective, which on shared memory can take a few
// hundred nanoseconds. So the tests are inline and each message is built by a separate
// never-inlined function, only on failure: TORCH_CHECK's message code in place would keep the
// compiler from inlining the helpers, and their calls alone were measurable (bench/README.md).

[[noreturn]] C10_NOINLINE void fail_mpi(int code, const char* call) {
  TORCH_CHECK(false, "dtensor: ", call, " failed: ", mpi_error_string(code));
}

// Our communicators use MPI_ERRORS_RETURN, so a failing MPI call becomes a c10::Error naming it.
inline void check_mpi(int code, const char* call) {
  if (C10_UNLIKELY(code != MPI_SUCCESS)) fail_mpi(code, call);
}

bool mpi_finalized() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  return finalized != 0;
}

const char* thread_level_name(int level) {
  switch (level) {
    case MPI_THREAD_SINGLE: return "MPI_THREAD_SINGLE";
    case MPI_THREAD_FUNNELED: return "MPI_THREAD_FUNNELED";
    case MPI_THREAD_SERIALIZED: return "MPI_THREAD_SERIALIZED";
    default: return "MPI_THREAD_MULTIPLE";
  }
}

// ---- reductions on 2-byte floats ---------------------------------------------------------------
//
// MPI has no half or bfloat16 type. They travel as MPI_UINT16_T bit patterns and are reduced by
// user-defined ops that widen each pair to float, combine and round back. This keeps the blocking
// path allocation-free (a float staging copy would not), at the price of rounding to the 2-byte
// type after every pairwise step, which is what a half-precision accumulation does anyway.

enum OpIndex { kSumOp, kProdOp, kMinOp, kMaxOp, kNumOps };

struct Min {
  float operator()(float a, float b) const { return b < a ? b : a; }
};
struct Max {
  float operator()(float a, float b) const { return b > a ? b : a; }
};

template <typename T, typename Combine>
void reduce_2byte(void* in, void* inout, int* length, MPI_Datatype* /*type*/) {
  const T* a = static_cast<const T*>(in);
  T* b = static_cast<T*>(inout);
  for (int i = 0; i < *length; ++i) {
    b[i] = static_cast<T>(Combine{}(static_cast<float>(a[i]), static_cast<float>(b[i])));
  }
}

template <typename T>
std::array<MPI_Op, kNumOps> create_2byte_ops() {
  std::array<MPI_Op, kNumOps> ops{};
  const std::array<MPI_User_function*, kNumOps> functions = {
      &reduce_2byte<T, std::plus<float>>, &reduce_2byte<T, std::multiplies<float>>,
      &reduce_2byte<T, Min>, &reduce_2byte<T, Max>};
  for (int i = 0; i < kNumOps; ++i) {
    check_mpi(MPI_Op_create(functions[i], /*commute=*/1, &ops[i]), "MPI_Op_create");
  }
  return ops;
}

// ---- process-wide MPI lifetime -----------------------------------------------------------------

// Initialises MPI once, owns the 2-byte reduction ops and finalises MPI at exit, but only if we
// initialised it and only after the last communicator is gone: a group held by a static object
// can outlive the atexit handler, and then the last State to die finalises.
class MpiEnvironment {
 public:
  // Leaked on purpose: States destroyed during static destruction still need it.
  static MpiEnvironment& get() {
    static auto* environment = new MpiEnvironment;
    return *environment;
  }

  void initialize();
  MPI_Op op_2byte(at::ScalarType type, OpIndex index) const {
    return type == at::kHalf ? half_ops_[index] : bfloat16_ops_[index];
  }

 private:
  static void at_exit();
  void finalize_locked();

  std::mutex mutex_;
  bool ready_ = false;  // MPI initialised with MPI_THREAD_MULTIPLE and our ops created
  bool exit_hook_ = false;
  bool initialized_by_us_ = false;
  // Written once in initialize() before any group exists, read lock-free afterwards.
  std::array<MPI_Op, kNumOps> half_ops_{};
  std::array<MPI_Op, kNumOps> bfloat16_ops_{};
};

// A request whose Work was dropped before completion, with everything MPI may still touch.
struct Orphan {
  MPI_Request request;
  std::vector<at::Tensor> tensors;
  std::vector<int> counts;  // alltoallv counts and displacements
};

// One thread per process. It aborts the job when a blocking collective outlives its group's
// timeout (MPI cannot cancel a collective, so a missing peer would otherwise hang every rank), and
// it completes orphaned requests so their buffers are released only once MPI is done with them.
//
// Blocking calls publish an odd sequence number while they run; the watchdog notes when it first
// sees a given odd number and aborts once that number has been in flight for the timeout. This
// puts no clock read on the hot path, only two plain stores; detection comes between timeout and
// timeout + 2 ticks after the call started, and never early.
class Watchdog {
 public:
  static Watchdog& get() {  // leaked, like MpiEnvironment
    static auto* watchdog = new Watchdog;
    return *watchdog;
  }

  void watch(ProcessGroupMPI::State* state);
  void unwatch(ProcessGroupMPI::State* state);
  void adopt(Orphan orphan);
  void stop();

 private:
  void run();
  milliseconds tick_locked() const;
  void check_locked(ProcessGroupMPI::State& state, Clock::time_point now);
  void complete_orphans_locked();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::thread thread_;
  bool stopping_ = false;
  std::vector<ProcessGroupMPI::State*> states_;
  std::vector<Orphan> orphans_;
};

void MpiEnvironment::initialize() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (ready_) return;
  TORCH_CHECK(!mpi_finalized(), "dtensor: MPI has already been finalised and cannot be restarted");
  int initialized = 0;
  MPI_Initialized(&initialized);
  int provided = MPI_THREAD_SINGLE;
  if (initialized) {
    MPI_Query_thread(&provided);
  } else {
    check_mpi(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided), "MPI_Init_thread");
    initialized_by_us_ = true;
  }
  if (!exit_hook_) {  // registered before the check below, so a refusal still finalises
    std::atexit(&MpiEnvironment::at_exit);
    exit_hook_ = true;
  }
  // SERIALIZED is not enough: Work may be waited on any thread while another thread runs a
  // blocking collective, and the watchdog calls MPI_Abort and MPI_Test from its own thread.
  TORCH_CHECK(provided >= MPI_THREAD_MULTIPLE,
              "dtensor: the MPI process group needs MPI_THREAD_MULTIPLE but MPI provides ",
              thread_level_name(provided),
              initialized ? " (MPI was initialised before dtensor; request MPI_THREAD_MULTIPLE)"
                          : " (use an MPI build with thread support)");
  half_ops_ = create_2byte_ops<c10::Half>();
  bfloat16_ops_ = create_2byte_ops<c10::BFloat16>();
  ready_ = true;
}

void MpiEnvironment::at_exit() {
  Watchdog::get().stop();  // it calls MPI; it must be gone before MPI_Finalize
  MpiEnvironment& environment = get();
  std::lock_guard<std::mutex> lock(environment.mutex_);
  // Finalise even if groups are still referenced: process-lifetime caches (interned DTensor
  // specs hold meshes, meshes hold groups) outlive every atexit handler, and an MPI process that
  // exits unfinalised makes mpirun report an abnormal termination. Groups destroyed later skip
  // MPI_Comm_free once MPI is finalised.
  environment.finalize_locked();
}

void MpiEnvironment::finalize_locked() {
  if (mpi_finalized()) return;
  if (ready_) {
    for (auto* ops : {&half_ops_, &bfloat16_ops_}) {
      for (MPI_Op& op : *ops) MPI_Op_free(&op);
    }
  }
  if (initialized_by_us_) MPI_Finalize();
}

// ---- watchdog ----------------------------------------------------------------------------------

void Watchdog::watch(ProcessGroupMPI::State* state) {
  std::lock_guard<std::mutex> lock(mutex_);
  states_.push_back(state);
  if (!thread_.joinable() && !stopping_) thread_ = std::thread([this] { run(); });
  wake_.notify_one();  // the new group may need a shorter tick
}

void Watchdog::unwatch(ProcessGroupMPI::State* state) {
  std::lock_guard<std::mutex> lock(mutex_);
  states_.erase(std::remove(states_.begin(), states_.end(), state), states_.end());
}

void Watchdog::adopt(Orphan orphan) {
  std::lock_guard<std::mutex> lock(mutex_);
  orphans_.push_back(std::move(orphan));
}

void Watchdog::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void Watchdog::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, tick_locked());
    if (stopping_) break;
    const Clock::time_point now = Clock::now();
    for (ProcessGroupMPI::State* state : states_) check_locked(*state, now);
    complete_orphans_locked();
  }
}

// A tenth of the shortest timeout keeps detection within ~20% of it; at most a second so a long
// timeout costs one wake-up per second, at least a millisecond so a tiny one cannot spin.
milliseconds Watchdog::tick_locked() const {
  milliseconds tick{1000};
  for (const ProcessGroupMPI::State* state : states_) {
    tick = std::min(tick, std::max(milliseconds(1), state->timeout / 10));
  }
  return tick;
}

void Watchdog::check_locked(ProcessGroupMPI::State& state, Clock::time_point now) {
  const uint64_t seq = state.blocking_seq.load(std::memory_order_acquire);
  if ((seq & 1) == 0) return;
  if (seq != state.seen_seq) {
    state.seen_seq = seq;
    state.seen_since = now;
    return;
  }
  if (now - state.seen_since < state.timeout) return;
  std::fprintf(stderr,
               "[rank %d] dtensor: MPI %s on a group of %d ranks did not complete within %lld ms "
               "(a peer is missing or stuck); aborting\n",
               state.world_rank, state.blocking_op.load(std::memory_order_relaxed), state.size,
               static_cast<long long>(state.timeout.count()));
  std::fflush(stderr);
  MPI_Abort(state.comm, 1);
}

void Watchdog::complete_orphans_locked() {
  auto done = [](Orphan& orphan) {
    int completed = 0;
    // An error also ends the request: MPI has reported it and will not touch the buffers again.
    return MPI_Test(&orphan.request, &completed, MPI_STATUS_IGNORE) != MPI_SUCCESS || completed;
  };
  orphans_.erase(std::remove_if(orphans_.begin(), orphans_.end(), done), orphans_.end());
}

// Marks a blocking collective as running for the watchdog (see Watchdog).
class BlockingCall {
 public:
  BlockingCall(ProcessGroupMPI::State& state, const char* op) : state_(state) {
    state_.blocking_op.store(op, std::memory_order_relaxed);
    bump();
  }
  ~BlockingCall() { bump(); }
  BlockingCall(const BlockingCall&) = delete;
  BlockingCall& operator=(const BlockingCall&) = delete;

 private:
  void bump() {
    const uint64_t seq = state_.blocking_seq.load(std::memory_order_relaxed);
    state_.blocking_seq.store(seq + 1, std::memory_order_release);
  }
  ProcessGroupMPI::State& state_;
};

// ---- tensors and types -------------------------------------------------------------------------

// MPI_DATATYPE_NULL for dtypes MPI cannot carry.
inline MPI_Datatype mpi_datatype_or_null(at::ScalarType type) {
  switch (type) {
    case at::kFloat: return MPI_FLOAT;
    case at::kDouble: return MPI_DOUBLE;
    case at::kHalf:
    case at::kBFloat16: return MPI_UINT16_T;  // bit patterns; reductions use our own ops
    case at::kChar: return MPI_INT8_T;
    case at::kByte: return MPI_UINT8_T;
    case at::kShort: return MPI_INT16_T;
    case at::kInt: return MPI_INT32_T;
    case at::kLong: return MPI_INT64_T;
    case at::kBool: return MPI_C_BOOL;
    default: return MPI_DATATYPE_NULL;
  }
}

MPI_Datatype mpi_datatype(at::ScalarType type) {
  const MPI_Datatype datatype = mpi_datatype_or_null(type);
  TORCH_CHECK(datatype != MPI_DATATYPE_NULL,
              "dtensor: the MPI process group does not support dtype ", type);
  return datatype;
}

MPI_Datatype mpi_datatype(const at::Tensor& tensor) { return mpi_datatype(tensor.scalar_type()); }

bool is_floating(at::ScalarType type) {
  return type == at::kFloat || type == at::kDouble || type == at::kHalf || type == at::kBFloat16;
}

struct Reduction {
  MPI_Op op;
  bool average;  // AVG runs as SUM and divides by the group size afterwards
};

OpIndex op_index(RedOpType op) {
  switch (op) {
    case RedOpType::PRODUCT: return kProdOp;
    case RedOpType::MIN: return kMinOp;
    case RedOpType::MAX: return kMaxOp;
    default: return kSumOp;
  }
}

// bool as in NCCL: SUM and MAX are "any", PRODUCT and MIN are "all" (MPI defines only logical
// ops on MPI_C_BOOL).
MPI_Op bool_op(RedOpType op) {
  switch (op) {
    case RedOpType::SUM:
    case RedOpType::MAX:
    case RedOpType::BOR: return MPI_LOR;
    case RedOpType::PRODUCT:
    case RedOpType::MIN:
    case RedOpType::BAND: return MPI_LAND;
    default: return MPI_LXOR;
  }
}

// Every reduce op and dtype: checks, the 2-byte ops, bool, average.
C10_NOINLINE Reduction any_mpi_reduction(const c10d::ReduceOp& reduce_op, at::ScalarType type) {
  RedOpType op = reduce_op.op_;
  TORCH_CHECK(op != RedOpType::PREMUL_SUM && op != RedOpType::UNUSED,
              "dtensor: the MPI process group does not support reduce op ", static_cast<int>(op));
  const bool bitwise = op == RedOpType::BAND || op == RedOpType::BOR || op == RedOpType::BXOR;
  TORCH_CHECK(!bitwise || !is_floating(type),
              "dtensor: bitwise reduce ops need an integer or bool tensor; got ", type);
  const bool average = op == RedOpType::AVG;
  TORCH_CHECK(!average || is_floating(type),
              "dtensor: ReduceOp AVG needs a floating-point tensor; got ", type);
  if (average) op = RedOpType::SUM;
  if (type == at::kBool) return {bool_op(op), false};
  if (type == at::kHalf || type == at::kBFloat16) {
    return {MpiEnvironment::get().op_2byte(type, op_index(op)), average};
  }
  switch (op) {
    case RedOpType::SUM: return {MPI_SUM, average};
    case RedOpType::PRODUCT: return {MPI_PROD, false};
    case RedOpType::MIN: return {MPI_MIN, false};
    case RedOpType::MAX: return {MPI_MAX, false};
    case RedOpType::BAND: return {MPI_BAND, false};
    case RedOpType::BOR: return {MPI_BOR, false};
    default: return {MPI_BXOR, false};
  }
}

// The common case inline (sum, min or max of float or double; nothing to check), the rest above.
C10_ALWAYS_INLINE Reduction mpi_reduction(const c10d::ReduceOp& reduce_op, at::ScalarType type) {
  if (C10_LIKELY(type == at::kFloat || type == at::kDouble)) {
    switch (reduce_op.op_) {
      case RedOpType::SUM: return {MPI_SUM, false};
      case RedOpType::MIN: return {MPI_MIN, false};
      case RedOpType::MAX: return {MPI_MAX, false};
      default: break;
    }
  }
  return any_mpi_reduction(reduce_op, type);
}

// x / size in place without ATen (a scalar division would allocate). Dividing in float is
// correctly rounded for the 2-byte types, so only double needs a wider type.
template <typename T>
void divide_elements(const at::Tensor& tensor, int divisor) {
  using Acc = std::conditional_t<std::is_same<T, double>::value, double, float>;
  T* data = static_cast<T*>(tensor.data_ptr());
  for (int64_t i = 0, n = tensor.numel(); i < n; ++i) {
    data[i] = static_cast<T>(static_cast<Acc>(data[i]) / static_cast<Acc>(divisor));
  }
}

void divide_by(const at::Tensor& tensor, int divisor) {
  switch (tensor.scalar_type()) {
    case at::kFloat: return divide_elements<float>(tensor, divisor);
    case at::kDouble: return divide_elements<double>(tensor, divisor);
    case at::kHalf: return divide_elements<c10::Half>(tensor, divisor);
    default: return divide_elements<c10::BFloat16>(tensor, divisor);  // mpi_reduction checked
  }
}

// A checked tensor as MPI sees it: base address, element count, datatype and size in bytes. Taken
// once per tensor and call, since TensorImpl::data() re-validates the storage every time.
struct Buffer {
  char* data;
  int count;
  MPI_Datatype type;
  size_t nbytes;
};

// Raises the error that check_tensor found.
[[noreturn]] C10_NOINLINE void fail_tensor(const at::Tensor& tensor, const char* op) {
  TORCH_CHECK(tensor.defined(), "dtensor: MPI ", op, ": undefined tensor");
  TORCH_CHECK(tensor.device().is_cpu(), "MPI process group needs CPU tensors; got ",
              tensor.device(), " in ", op);
  TORCH_CHECK(tensor.is_contiguous(), "dtensor: MPI ", op,
              " needs contiguous tensors; call .contiguous() first (sizes ", tensor.sizes(),
              ", strides ", tensor.strides(), ")");
  TORCH_CHECK(tensor.numel() <= INT_MAX, "dtensor: MPI ", op, ": ", tensor.numel(),
              " elements exceed MPI's int count");
  mpi_datatype(tensor.scalar_type());  // raises for unsupported dtypes
  TORCH_INTERNAL_ASSERT(false, "fail_tensor on a valid tensor");
}

C10_ALWAYS_INLINE Buffer check_tensor(const at::Tensor& tensor, const char* op) {
  MPI_Datatype type = MPI_DATATYPE_NULL;
  if (C10_LIKELY(tensor.defined() && tensor.device().is_cpu() && tensor.is_contiguous() &&
                 tensor.numel() <= INT_MAX)) {
    type = mpi_datatype_or_null(tensor.scalar_type());
  }
  if (C10_UNLIKELY(type == MPI_DATATYPE_NULL)) fail_tensor(tensor, op);
  const int64_t numel = tensor.numel();
  return {static_cast<char*>(tensor.data_ptr()), static_cast<int>(numel), type,
          static_cast<size_t>(numel) * tensor.element_size()};
}

[[noreturn]] C10_NOINLINE void fail_dtype(const at::Tensor& a, const at::Tensor& b,
                                          const char* op) {
  TORCH_CHECK(false, "dtensor: MPI ", op, ": input and output dtypes differ (", a.scalar_type(),
              " vs ", b.scalar_type(), ")");
}

inline void check_same_dtype(const at::Tensor& a, const at::Tensor& b, const char* op) {
  if (C10_UNLIKELY(a.scalar_type() != b.scalar_type())) fail_dtype(a, b, op);
}

[[noreturn]] C10_NOINLINE void fail_numel(int64_t numel, int64_t expected, const char* what,
                                          const char* op) {
  TORCH_CHECK(false, "dtensor: MPI ", op, ": ", what, " has ", numel, " elements, expected ",
              expected);
}

inline void check_numel(int64_t numel, int64_t expected, const char* what, const char* op) {
  if (C10_UNLIKELY(numel != expected)) fail_numel(numel, expected, what, op);
}

// `role` names the rank argument in the message: root, destination or source.
void check_rank(int64_t rank, int size, const char* role, const char* op) {
  TORCH_CHECK(rank >= 0 && rank < size, "dtensor: MPI ", op, ": ", role, " ", rank,
              " is not a rank of this group of ", size);
}

int count(const at::Tensor& tensor) { return static_cast<int>(tensor.numel()); }

[[noreturn]] C10_NOINLINE void fail_overlap(const char* op) {
  TORCH_CHECK(false, "dtensor: MPI ", op, ": input and output overlap");
}

inline void check_disjoint(const Buffer& a, const Buffer& b, const char* op) {
  if (C10_UNLIKELY(a.nbytes != 0 && b.nbytes != 0 && a.data + a.nbytes > b.data &&
                   b.data + b.nbytes > a.data)) {
    fail_overlap(op);
  }
}

// MPI forbids overlapping send and receive buffers. The one legal overlap, `block` already sitting
// at slot `index` of `whole`, is what MPI_IN_PLACE expresses.
inline void* block_or_in_place(const Buffer& block, const Buffer& whole, int index,
                               const char* op) {
  if (block.data == whole.data + index * block.nbytes) return MPI_IN_PLACE;
  check_disjoint(block, whole, op);
  return block.data;
}

at::Tensor& single_tensor(std::vector<at::Tensor>& tensors, const char* op) {
  TORCH_CHECK(tensors.size() == 1, "dtensor: MPI ", op, " takes exactly one tensor per call; got ",
              tensors.size());
  check_tensor(tensors[0], op);
  return tensors[0];
}

// `tensors` must be `size` tensors shaped and typed like `like` (the per-rank list of allgather,
// reduce_scatter, scatter and gather).
void check_tensor_list(const std::vector<at::Tensor>& tensors, const at::Tensor& like, int size,
                       const char* op) {
  TORCH_CHECK(static_cast<int>(tensors.size()) == size, "dtensor: MPI ", op,
              " needs one tensor per rank (", size, "); got ", tensors.size());
  for (const at::Tensor& tensor : tensors) {
    check_tensor(tensor, op);
    check_same_dtype(like, tensor, op);
    TORCH_CHECK(tensor.sizes() == like.sizes(), "dtensor: MPI ", op, ": tensor of sizes ",
                tensor.sizes(), " in the per-rank list, expected ", like.sizes());
  }
}

std::vector<at::Tensor>& single_list(std::vector<std::vector<at::Tensor>>& lists, const char* op) {
  TORCH_CHECK(lists.size() == 1, "dtensor: MPI ", op,
              " takes exactly one tensor list per call; got ", lists.size());
  return lists[0];
}

// The per-rank tensors laid end to end, as MPI wants them.
at::Tensor concatenate(const std::vector<at::Tensor>& tensors) {
  const int64_t n = tensors[0].numel();
  at::Tensor flat = at::empty({n * static_cast<int64_t>(tensors.size())}, tensors[0].options());
  for (size_t i = 0; i < tensors.size(); ++i) {
    flat.narrow(0, i * n, n).copy_(tensors[i].reshape(-1));
  }
  return flat;
}

void split_into(const at::Tensor& flat, const std::vector<at::Tensor>& tensors) {
  const int64_t n = tensors[0].numel();
  for (size_t i = 0; i < tensors.size(); ++i) {
    tensors[i].copy_(flat.narrow(0, i * n, n).view(tensors[i].sizes()));
  }
}

// Element counts then displacements of one side of alltoallv, from dim-0 split sizes (empty:
// equal splits).
std::vector<int> alltoallv_layout(const at::Tensor& tensor, const std::vector<int64_t>& splits,
                                  int size, const char* side) {
  const int64_t rows = tensor.size(0);
  const int64_t row_numel = rows == 0 ? 0 : tensor.numel() / rows;
  std::vector<int64_t> row_splits = splits;
  if (row_splits.empty()) {
    TORCH_CHECK(rows % size == 0, "dtensor: MPI alltoall_base: ", side, " dim 0 (", rows,
                ") does not split evenly over ", size, " ranks");
    row_splits.assign(size, rows / size);
  }
  TORCH_CHECK(static_cast<int>(row_splits.size()) == size, "dtensor: MPI alltoall_base: ", side,
              " split sizes have ", row_splits.size(), " entries for a group of ", size);
  std::vector<int> layout(2 * size);
  int64_t offset = 0;
  for (int i = 0; i < size; ++i) {
    TORCH_CHECK(row_splits[i] >= 0, "dtensor: MPI alltoall_base: negative ", side, " split size");
    const int64_t elements = row_splits[i] * row_numel;
    TORCH_CHECK(offset + elements <= INT_MAX, "dtensor: MPI alltoall_base: ", side,
                " exceeds MPI's int displacements");
    layout[i] = static_cast<int>(elements);
    layout[size + i] = static_cast<int>(offset);
    offset += elements;
  }
  TORCH_CHECK(offset == tensor.numel(), "dtensor: MPI alltoall_base: ", side, " split sizes ",
              c10::IntArrayRef(row_splits), " do not add up to dim 0 (", rows, ")");
  return layout;
}

// ---- asynchronous work -------------------------------------------------------------------------

// One non-blocking MPI request. It owns everything MPI reads or writes until the request is done,
// completes on the first isCompleted()/wait() that finds the request finished, and then runs the
// post-processing (AVG division, copies out of staging buffers) before anyone sees the result.
class MpiWork : public c10d::Work {
 public:
  MpiWork(std::shared_ptr<ProcessGroupMPI::State> state, c10d::OpType type, const char* name,
          milliseconds timeout, std::vector<at::Tensor> outputs)
      : Work(state->rank, type),
        state_(std::move(state)),
        name_(name),
        timeout_(timeout == c10d::kUnsetTimeout ? state_->timeout : timeout),
        outputs_(std::move(outputs)) {}

  ~MpiWork() override;

  // What MPI touches: kept alive here until the request completes.
  void keep(const at::Tensor& tensor) { tensors_.push_back(tensor); }
  std::vector<int>& counts() { return counts_; }
  void then(std::function<void()> finish) { finish_ = std::move(finish); }
  MPI_Request* request() { return &request_; }

  bool isCompleted() override {
    std::lock_guard<std::mutex> lock(mutex_);
    return poll_locked();
  }
  bool wait(milliseconds timeout) override;
  std::vector<at::Tensor> result() override {
    std::lock_guard<std::mutex> lock(mutex_);
    return outputs_;
  }
  int sourceRank() const override {
    std::lock_guard<std::mutex> lock(mutex_);
    TORCH_CHECK(opType_ == c10d::OpType::RECV && completed_,
                "dtensor: sourceRank() needs a completed MPI recv");
    return status_.MPI_SOURCE;
  }

 private:
  bool poll_locked();
  void complete_locked();

  std::shared_ptr<ProcessGroupMPI::State> state_;  // the communicator outlives the request
  const char* name_;
  milliseconds timeout_;
  MPI_Request request_ = MPI_REQUEST_NULL;
  MPI_Status status_{};
  std::vector<at::Tensor> tensors_;
  std::vector<int> counts_;
  std::vector<at::Tensor> outputs_;
  std::function<void()> finish_;
};

MpiWork::~MpiWork() {
  if (request_ == MPI_REQUEST_NULL) return;  // completed (MPI_Test resets it) or never started
  // Dropped in flight (e.g. after a wait() timeout): MPI may still use the buffers, so the watchdog
  // keeps them until the request finishes. An unmatched receive is cancelled first so that it
  // cannot swallow a later message meant for a new recv; sends and collectives cannot be cancelled.
  if (opType_ == c10d::OpType::RECV) MPI_Cancel(&request_);
  Watchdog::get().adopt({request_, std::move(tensors_), std::move(counts_)});
}

bool MpiWork::poll_locked() {
  if (completed_) return true;
  int done = 0;
  const int code = MPI_Test(&request_, &done, &status_);
  if (code != MPI_SUCCESS) {
    request_ = MPI_REQUEST_NULL;  // MPI reported the failure; nothing is left in flight
    exception_ = std::make_exception_ptr(
        c10::Error(c10::str("dtensor: MPI ", name_, " failed: ", mpi_error_string(code)), ""));
    done = 1;
  }
  if (done) complete_locked();
  return done != 0;
}

void MpiWork::complete_locked() {
  if (!exception_ && finish_) {
    try {
      finish_();
    } catch (...) {
      exception_ = std::current_exception();
    }
  }
  completed_ = true;
  // Staging buffers are no longer needed; outputs_ stay for result().
  tensors_.clear();
  finish_ = nullptr;
  cv_.notify_all();
}

// Polls rather than blocks in MPI_Wait so that the timeout can be honoured. The first ~50 us spin
// (a shared-memory collective usually finishes within them); up to 2 ms the thread yields between
// polls: on a core of its own that costs a syscall and keeps wake-up latency at a poll, and when
// ranks share cores it hands the core to the peer being waited for. Longer waits sleep with a
// growing pause. Measured with bench_tp on 2 cores (MPI, tp 2): sleeping right after the spin made
// steps 3-6% slower than Open MPI's own busy-polling on a quiet machine, the yield phase brings
// that to -1..3%; with two busy processes competing for the cores it is ~1.5x faster than sleeping
// and 1.2-1.3x faster than busy-polling (the blocking hand-written baseline).
bool MpiWork::wait(milliseconds timeout) {
  constexpr microseconds kSpin{50};
  constexpr microseconds kYield{2000};
  constexpr microseconds kMaxPause{500};
  const milliseconds limit = timeout != kNoTimeout ? timeout : timeout_;
  const Clock::time_point start = Clock::now();
  microseconds pause{10};
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (poll_locked()) {
        if (exception_) std::rethrow_exception(exception_);
        return true;
      }
    }
    const Clock::duration elapsed = Clock::now() - start;
    TORCH_CHECK(elapsed < limit, "[rank ", state_->world_rank, "] dtensor: MPI ", name_,
                " on a group of ", state_->size, " ranks did not complete within ", limit.count(),
                " ms (a peer is missing or stuck); the operation is still pending");
    if (elapsed > kYield) {
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, kMaxPause);
    } else if (elapsed > kSpin) {
      std::this_thread::yield();
    }
  }
}

}  // namespace

// ---- State -------------------------------------------------------------------------------------

ProcessGroupMPI::State::State(MPI_Comm comm, milliseconds timeout) : comm(comm), timeout(timeout) {
  MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  Watchdog::get().watch(this);
}

ProcessGroupMPI::State::~State() {
  Watchdog::get().unwatch(this);
  // Orphaned requests may still use the communicator: MPI_Comm_free defers the deallocation.
  if (!mpi_finalized()) MPI_Comm_free(&comm);
}

// ---- construction ------------------------------------------------------------------------------

ProcessGroupMPI::ProcessGroupMPI(std::shared_ptr<State> state, int rank, int size)
    : ProcessGroup(rank, size), state_(std::move(state)) {
  init();
}

ProcessGroupMPI::~ProcessGroupMPI() = default;

c10::intrusive_ptr<ProcessGroupMPI> ProcessGroupMPI::make(std::shared_ptr<State> state) {
  const int rank = state->rank, size = state->size;
  // make_intrusive cannot reach the private constructor; intrusive_ptr adopts a unique_ptr instead.
  return c10::intrusive_ptr<ProcessGroupMPI>(
      std::unique_ptr<ProcessGroupMPI>(new ProcessGroupMPI(std::move(state), rank, size)));
}

c10::intrusive_ptr<ProcessGroupMPI> ProcessGroupMPI::create_world(milliseconds timeout) {
  TORCH_CHECK(timeout.count() > 0, "dtensor: the MPI process group timeout must be positive; got ",
              timeout.count(), " ms");
  MpiEnvironment::get().initialize();
  MPI_Comm comm = MPI_COMM_NULL;
  check_mpi(MPI_Comm_dup(MPI_COMM_WORLD, &comm), "MPI_Comm_dup");
  return make(std::make_shared<State>(comm, timeout));
}

c10::intrusive_ptr<ProcessGroupMPI> ProcessGroupMPI::split(const std::vector<int>& ranks) {
  TORCH_CHECK(!ranks.empty(), "dtensor: ProcessGroupMPI::split needs at least one rank");
  std::vector<bool> seen(size_, false);
  for (int r : ranks) {
    TORCH_CHECK(r >= 0 && r < size_, "dtensor: ProcessGroupMPI::split: rank ", r,
                " is not in this group of ", size_, " ranks");
    TORCH_CHECK(!seen[r], "dtensor: ProcessGroupMPI::split: rank ", r, " is repeated in ",
                c10::ArrayRef<int>(ranks));
    seen[r] = true;
  }
  // The key orders the new communicator: group rank i is ranks[i], in whatever order given.
  const auto position = std::find(ranks.begin(), ranks.end(), rank_);
  const bool member = position != ranks.end();
  MPI_Comm comm = MPI_COMM_NULL;
  check_mpi(MPI_Comm_split(state_->comm, member ? 0 : MPI_UNDEFINED,
                           static_cast<int>(position - ranks.begin()), &comm),
            "MPI_Comm_split");
  if (comm == MPI_COMM_NULL) return {};
  return make(std::make_shared<State>(comm, state_->timeout));
}

milliseconds ProcessGroupMPI::timeout() const { return state_->timeout; }

// ---- blocking fast path ------------------------------------------------------------------------
// Checks, one MPI call, no allocation: TORCH_CHECK builds its message only on failure.

void ProcessGroupMPI::allreduce_blocking(const at::Tensor& tensor, const c10d::ReduceOp& op) {
  const Buffer buffer = check_tensor(tensor, "allreduce");
  const Reduction reduction = mpi_reduction(op, tensor.scalar_type());
  {
    BlockingCall call(*state_, "allreduce");
    check_mpi(MPI_Allreduce(MPI_IN_PLACE, buffer.data, buffer.count, buffer.type, reduction.op,
                            state_->comm),
              "MPI_Allreduce");
  }
  if (reduction.average) divide_by(tensor, size_);
}

void ProcessGroupMPI::allreduce_blocking(const at::Tensor& input, const at::Tensor& output,
                                         const c10d::ReduceOp& op) {
  if (input.is_same(output)) return allreduce_blocking(output, op);  // checks it once
  const Buffer in = check_tensor(input, "allreduce");
  const Buffer out = check_tensor(output, "allreduce");
  check_same_dtype(input, output, "allreduce");
  check_numel(out.count, in.count, "output", "allreduce");
  // MPI forbids aliased send and receive buffers: the same memory is the in-place form.
  const void* send = MPI_IN_PLACE;
  if (in.data != out.data) {
    check_disjoint(in, out, "allreduce");
    send = in.data;
  }
  const Reduction reduction = mpi_reduction(op, output.scalar_type());
  {
    BlockingCall call(*state_, "allreduce");
    check_mpi(MPI_Allreduce(send, out.data, out.count, out.type, reduction.op, state_->comm),
              "MPI_Allreduce");
  }
  if (reduction.average) divide_by(output, size_);
}

void ProcessGroupMPI::allgather_blocking(const at::Tensor& input, const at::Tensor& output) {
  const Buffer in = check_tensor(input, "allgather");
  const Buffer out = check_tensor(output, "allgather");
  check_same_dtype(input, output, "allgather");
  check_numel(out.count, int64_t{in.count} * size_, "output", "allgather");
  void* send = block_or_in_place(in, out, rank_, "allgather");
  BlockingCall call(*state_, "allgather");
  check_mpi(MPI_Allgather(send, in.count, in.type, out.data, in.count, in.type, state_->comm),
            "MPI_Allgather");
}

void ProcessGroupMPI::reduce_scatter_blocking(const at::Tensor& input, const at::Tensor& output,
                                              const c10d::ReduceOp& op) {
  const Buffer in = check_tensor(input, "reduce_scatter");
  const Buffer out = check_tensor(output, "reduce_scatter");
  check_same_dtype(input, output, "reduce_scatter");
  check_numel(in.count, int64_t{out.count} * size_, "input", "reduce_scatter");
  check_disjoint(in, out, "reduce_scatter");
  const Reduction reduction = mpi_reduction(op, output.scalar_type());
  {
    BlockingCall call(*state_, "reduce_scatter");
    check_mpi(MPI_Reduce_scatter_block(in.data, out.data, out.count, out.type, reduction.op,
                                       state_->comm),
              "MPI_Reduce_scatter_block");
  }
  if (reduction.average) divide_by(output, size_);
}

void ProcessGroupMPI::alltoall_blocking(const at::Tensor& input, const at::Tensor& output) {
  const Buffer in = check_tensor(input, "alltoall");
  const Buffer out = check_tensor(output, "alltoall");
  check_same_dtype(input, output, "alltoall");
  check_numel(out.count, in.count, "output", "alltoall");
  TORCH_CHECK(input.dim() > 0 && input.size(0) % size_ == 0, "dtensor: MPI alltoall: dim 0 of ",
              input.sizes(), " does not split evenly over ", size_, " ranks");
  check_disjoint(in, out, "alltoall");
  const int block = in.count / size_;
  BlockingCall call(*state_, "alltoall");
  check_mpi(MPI_Alltoall(in.data, block, in.type, out.data, block, in.type, state_->comm),
            "MPI_Alltoall");
}

void ProcessGroupMPI::broadcast_blocking(const at::Tensor& tensor, int root) {
  const Buffer buffer = check_tensor(tensor, "broadcast");
  check_rank(root, size_, "root", "broadcast");
  BlockingCall call(*state_, "broadcast");
  check_mpi(MPI_Bcast(buffer.data, buffer.count, buffer.type, root, state_->comm), "MPI_Bcast");
}

void ProcessGroupMPI::scatter_blocking(const at::Tensor& input, const at::Tensor& output,
                                       int root) {
  const Buffer out = check_tensor(output, "scatter");
  check_rank(root, size_, "root", "scatter");
  void* send = nullptr;  // significant at the root only
  void* receive = out.data;
  if (rank_ == root) {
    const Buffer in = check_tensor(input, "scatter");
    check_same_dtype(input, output, "scatter");
    check_numel(in.count, int64_t{out.count} * size_, "input", "scatter");
    send = in.data;
    receive = block_or_in_place(out, in, root, "scatter");
  }
  BlockingCall call(*state_, "scatter");
  check_mpi(MPI_Scatter(send, out.count, out.type, receive, out.count, out.type, root,
                        state_->comm),
            "MPI_Scatter");
}

void ProcessGroupMPI::barrier_blocking() {
  BlockingCall call(*state_, "barrier");
  check_mpi(MPI_Barrier(state_->comm), "MPI_Barrier");
}

// ---- asynchronous c10d API ---------------------------------------------------------------------

namespace {

c10::intrusive_ptr<MpiWork> make_work(const std::shared_ptr<ProcessGroupMPI::State>& state,
                                      c10d::OpType type, const char* name, milliseconds timeout,
                                      std::vector<at::Tensor> outputs = {}) {
  return c10::make_intrusive<MpiWork>(state, type, name, timeout, std::move(outputs));
}

}  // namespace

c10::intrusive_ptr<c10d::Work> ProcessGroupMPI::broadcast(std::vector<at::Tensor>& tensors,
                                                          const c10d::BroadcastOptions& opts) {
  at::Tensor& tensor = single_tensor(tensors, "broadcast");
  check_rank(opts.rootRank, size_, "root", "broadcast");
  TORCH_CHECK(opts.rootTensor == 0, "dtensor: MPI broadcast: rootTensor must be 0");
  auto work = make_work(state_, c10d::OpType::BROADCAST, "broadcast", opts.timeout, {tensor});
  work->keep(tensor);
  check_mpi(MPI_Ibcast(tensor.data_ptr(), count(tensor), mpi_datatype(tensor),
                       static_cast<int>(opts.rootRank), state_->comm, work->request()),
            "MPI_Ibcast");
  return work;
}

c10::intrusive_ptr<c10d::Work> ProcessGroupMPI::allreduce(std::vector<at::Tensor>& tensors,
                                                          const c10d::AllreduceOptions& opts) {
  at::Tensor& tensor = single_tensor(tensors, "allreduce");
  const Reduction reduction = mpi_reduction(opts.reduceOp, tensor.scalar_type());
  auto work = make_work(state_, c10d::OpType::ALLREDUCE, "allreduce", opts.timeout, {tensor});
  work->keep(tensor);
  if (reduction.average) work->then([tensor, size = size_] { divide_by(tensor, size); });
  check_mpi(MPI_Iallreduce(MPI_IN_PLACE, tensor.data_ptr(), count(tensor), mpi_datatype(tensor),
                           reduction.op, state_->comm, work->request()),
            "MPI_Iallreduce");
  return work;
}

c10::intrusive_ptr<c10d::Work> ProcessGroupMPI::allgather(
    std::vector<std::vector<at::Tensor>>& outputs, std::vector<at::Tensor>& inputs,
    const c10d::AllgatherOptions& opts) {
  const at::Tensor& input = single_tensor(inputs, "allgather");
  const std::vector<at::Tensor>& list = single_list(outputs, "allgather");
  check_tensor_list(list, input, size_, "allgather");
  at::Tensor staging = at::empty({input.numel() * size_}, input.options());
  auto work = make_work(state_, c10d::OpType::ALLGATHER, "allgather", opts.timeout, list);
  work->keep(input);
  work->keep(staging);
  work->then([staging, list] { split_into(staging, list); });
  const MPI_Datatype type = mpi_datatype(input);
  check_mpi(MPI_Iallgather(input.data_ptr(), count(input), type, staging.data_ptr(), count(input),
                           type, state_->comm, work->request()),
            "MPI_Iallgather");
  return work;
}

c10::intrusive_ptr<c10d::Work> ProcessGroupMPI::_allgather_base(
    at::Tensor& output, at::Tensor& input, const c10d::AllgatherOptions& opts) {
  const Buffer in = check_tensor(input, "_allgather_base");
  const Buffer out = check_tensor(output, "_allgather_base");
  check_same_dtype(input, output, "_allgather_base");
  check_numel(out.count, int64_t{in.count} * size_, "output", "_allgather_base");
  void* send = block_or_in_place(in, out, rank_, "_allgather_base");
  auto work = make_work(state_, c10d::OpType::_ALLGATHER_BASE, "_allgather_base", opts.timeout,
                        {output});
  work->keep(input);
  work->keep(output);
  const MPI_Datatype type = mpi_datatype(input);
  check_mpi(MPI_Iallgather(send, count(input), type, output.data_ptr(), count(input), type,
                           state_->comm, work->request()),
            "MPI_Iallgather");
  return work;
}

c10::intrusive_ptr<c10d::Work> ProcessGroupMPI::reduce_scatter(
    std::vector<at::Tensor>& outputs, std::vector<std::vector<at::Tensor>>& inputs,
    const c10d::ReduceScatterOptions& opts) {
  at::Tensor& output = single_tensor(outputs, "reduce_scatter");
  const std::vector<at::Tensor>& list = single_list(inputs, "reduce_scatter");
  check_tensor_list(list, output, size_, "reduce_scatter");
  const Reduction reduction = mpi_reduction(opts.reduceOp, output.scalar_type());
  at::Tensor staging = concatenate(list);
  auto work = make_work(state_, c10d::OpType::REDUCE_SCATTER, "reduce_scatter", opts.timeout,
                        {output});
  work->keep(staging);
  work->keep(output);
  if (reduction.average) work->then([output, size = size_] { divide_by(output, size); });
  check_mpi(MPI_Ireduce_scatter_block(staging.data_ptr(), output.data_ptr(), count(output),
                                      mpi_datatype(output), reduction.op, state_->comm,
                                      work->request()),
            "MPI_Ireduce_scatter_block");
  return work;
}

c10::intrusive_ptr<c10d::Work> ProcessGroupMPI::_reduce_scatter_base(
    at::Tensor& output, at::Tensor& input, const c10d::ReduceScatterOptions& opts) {
  const Buffer in = check_tensor(input, "_reduce_scatter_base");
  const Buffer out = check_tensor(output, "_reduce_scatter_base");
  check_same_dtype(input, output, "_reduce_scatter_base");
  check_numel(in.count, int64_t{out.count} * size_, "input", "_reduce_scatter_base");
  check_disjoint(in, out, "_reduce_scatter_base");
  const Reduction reduction = mpi_reduction(opts.reduceOp, output.scalar_type());
  auto work = make_work(state_, c10d::OpType::_REDUCE_SCATTER_BASE, "_reduce_scatter_base",
                        opts.timeout, {output});
  work->keep(input);
  work->keep(output);
  if (reduction.average) work->then([output, size = size_] { divide_by(output, size); });
  check_mpi(MPI_Ireduce_scatter_block(input.data_ptr(), output.data_ptr(), count(output),
                                      mpi_datatype(output), reduction.op, state_->comm,
                                      work->request()),
            "MPI_Ireduce_scatter_block");
  return work;
}

c10::intrusive_ptr<c10d::Work> ProcessGroupMPI::alltoall_base(
    at::Tensor& output, at::Tensor& input, std::vector<int64_t>& output_split_sizes,
    std::vector<int64_t>& input_split_sizes, const c10d::AllToAllOptions& opts) {
  const Buffer in = check_tensor(input, "alltoall_base");
  const Buffer out = check_tensor(output, "alltoall_base");
  check_same_dtype(input, output, "alltoall_base");
  TORCH_CHECK(input.dim() > 0 && input.sizes().slice(1) == output.sizes().slice(1),
              "dtensor: MPI alltoall_base splits dim 0 of tensors that agree on the other dims; "
              "got ", input.sizes(), " and ", output.sizes());
  check_disjoint(in, out, "alltoall_base");
  auto work = make_work(state_, c10d::OpType::ALLTOALL_BASE, "alltoall_base", opts.timeout,
                        {output});
  work->keep(input);
  work->keep(output);
  const MPI_Datatype type = mpi_datatype(input);
  if (input_split_sizes.empty() && output_split_sizes.empty()) {
    check_numel(out.count, in.count, "output", "alltoall_base");
    TORCH_CHECK(input.size(0) % size_ == 0, "dtensor: MPI alltoall_base: dim 0 of ",
                input.sizes(), " does not split evenly over ", size_, " ranks");
    const int block = count(input) / size_;
    check_mpi(MPI_Ialltoall(input.data_ptr(), block, type, output.data_ptr(), block, type,
                            state_->comm, work->request()),
              "MPI_Ialltoall");
    return work;
  }
  // MPI reads the count and displacement arrays until completion, so the Work owns them.
  std::vector<int>& layout = work->counts();
  layout = alltoallv_layout(input, input_split_sizes, size_, "input");
  const std::vector<int> receive = alltoallv_layout(output, output_split_sizes, size_, "output");
  layout.insert(layout.end(), receive.begin(), receive.end());
  const int* send_layout = layout.data();
  const int* receive_layout = layout.data() + 2 * size_;
  check_mpi(MPI_Ialltoallv(input.data_ptr(), send_layout, send_layout + size_, type,
                           output.data_ptr(), receive_layout, receive_layout + size_, type,
                           state_->comm, work->request()),
            "MPI_Ialltoallv");
  return work;
}

c10::intrusive_ptr<c10d::Work> ProcessGroupMPI::scatter(
    std::vector<at::Tensor>& outputs, std::vector<std::vector<at::Tensor>>& inputs,
    const c10d::ScatterOptions& opts) {
  at::Tensor& output = single_tensor(outputs, "scatter");
  check_rank(opts.rootRank, size_, "root", "scatter");
  const int root = static_cast<int>(opts.rootRank);
  auto work = make_work(state_, c10d::OpType::SCATTER, "scatter", opts.timeout, {output});
  work->keep(output);
  void* send = nullptr;  // significant at the root only
  if (rank_ == root) {
    check_tensor_list(single_list(inputs, "scatter"), output, size_, "scatter");
    at::Tensor staging = concatenate(inputs[0]);
    work->keep(staging);
    send = staging.data_ptr();
  } else {
    TORCH_CHECK(inputs.empty(), "dtensor: MPI scatter: only the root passes input tensors");
  }
  const MPI_Datatype type = mpi_datatype(output);
  check_mpi(MPI_Iscatter(send, count(output), type, output.data_ptr(), count(output), type, root,
                         state_->comm, work->request()),
            "MPI_Iscatter");
  return work;
}

c10::intrusive_ptr<c10d::Work> ProcessGroupMPI::gather(
    std::vector<std::vector<at::Tensor>>& outputs, std::vector<at::Tensor>& inputs,
    const c10d::GatherOptions& opts) {
  const at::Tensor& input = single_tensor(inputs, "gather");
  check_rank(opts.rootRank, size_, "root", "gather");
  const int root = static_cast<int>(opts.rootRank);
  std::vector<at::Tensor> list;
  if (rank_ == root) {
    list = single_list(outputs, "gather");
    check_tensor_list(list, input, size_, "gather");
  } else {
    TORCH_CHECK(outputs.empty(), "dtensor: MPI gather: only the root passes output tensors");
  }
  auto work = make_work(state_, c10d::OpType::GATHER, "gather", opts.timeout, list);
  work->keep(input);
  void* receive = nullptr;  // significant at the root only
  if (rank_ == root) {
    at::Tensor staging = at::empty({input.numel() * size_}, input.options());
    work->keep(staging);
    work->then([staging, list] { split_into(staging, list); });
    receive = staging.data_ptr();
  }
  const MPI_Datatype type = mpi_datatype(input);
  check_mpi(MPI_Igather(input.data_ptr(), count(input), type, receive, count(input), type, root,
                        state_->comm, work->request()),
            "MPI_Igather");
  return work;
}

c10::intrusive_ptr<c10d::Work> ProcessGroupMPI::barrier(const c10d::BarrierOptions& opts) {
  auto work = make_work(state_, c10d::OpType::BARRIER, "barrier", opts.timeout);
  check_mpi(MPI_Ibarrier(state_->comm, work->request()), "MPI_Ibarrier");
  return work;
}

c10::intrusive_ptr<c10d::Work> ProcessGroupMPI::send(std::vector<at::Tensor>& tensors, int dst,
                                                     int tag) {
  const at::Tensor& tensor = single_tensor(tensors, "send");
  check_rank(dst, size_, "destination", "send");
  auto work = make_work(state_, c10d::OpType::SEND, "send", c10d::kUnsetTimeout);
  work->keep(tensor);
  check_mpi(MPI_Isend(tensor.data_ptr(), count(tensor), mpi_datatype(tensor), dst, tag,
                      state_->comm, work->request()),
            "MPI_Isend");
  return work;
}

c10::intrusive_ptr<c10d::Work> ProcessGroupMPI::recv(std::vector<at::Tensor>& tensors, int src,
                                                     int tag) {
  at::Tensor& tensor = single_tensor(tensors, "recv");
  check_rank(src, size_, "source", "recv");
  auto work = make_work(state_, c10d::OpType::RECV, "recv", c10d::kUnsetTimeout, {tensor});
  work->keep(tensor);
  check_mpi(MPI_Irecv(tensor.data_ptr(), count(tensor), mpi_datatype(tensor), src, tag,
                      state_->comm, work->request()),
            "MPI_Irecv");
  return work;
}

}  // namespace dtensor
