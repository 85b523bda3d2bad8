// Placements: how a tensor is laid out along one mesh dimension.
//
//   Shard(d)     each rank of the mesh dim holds one torch.chunk piece of tensor dim d: with
//                full = ceil(L / n), rank r holds rows [r*full, min(L, (r+1)*full)), so trailing
//                ranks hold short or empty pieces (L=5, n=4: 2,2,1,0). Negative dims count from
//                the end and are normalised when the placement meets a tensor.
//   Replicate    every rank holds the whole tensor.
//   Partial(op)  every rank holds a tensor of the full shape; the value is their reduction by op
//                (sum, avg, max, min, product). Produced by ops (a matmul over a sharded
//                contracting dim) or from_local; redistribute can leave it but not enter it.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include <dtensor/comm.h>

namespace dtensor {

struct Shard {
  int64_t dim;
  explicit Shard(int64_t dim) : dim(dim) {}
};
struct Replicate {};
struct Partial {
  std::string reduce_op = "sum";
  Partial(std::string op = "sum");  // NOLINT: implicit, like the Python default argument
};

class Placement {  // implicitly constructible from Shard, Replicate, Partial
 public:
  enum class Kind : uint8_t { Shard, Replicate, Partial };

  Placement() : Placement(Replicate{}) {}
  Placement(Shard s) : kind_(Kind::Shard), dim_(s.dim) {}  // NOLINT
  Placement(Replicate) : kind_(Kind::Replicate) {}          // NOLINT
  Placement(const Partial& p);                               // NOLINT

  Kind kind() const { return kind_; }
  bool is_shard() const { return kind_ == Kind::Shard; }
  bool is_shard(int64_t dim) const { return kind_ == Kind::Shard && dim_ == dim; }
  bool is_replicate() const { return kind_ == Kind::Replicate; }
  bool is_partial() const { return kind_ == Kind::Partial; }
  bool is_partial(comm::ReduceOp op) const { return is_partial() && op_ == op; }
  int64_t shard_dim() const;               // error unless is_shard()
  comm::ReduceOp reduce_op() const;        // error unless is_partial()
  std::string reduce_op_name() const;      // "sum" ...; error unless is_partial()
  std::string str() const;                 // "S(0)", "R", "P(sum)"
  std::string repr() const;                // "Shard(dim=0)", "Replicate()", "Partial(sum)"
  // Shard with a negative dim resolved against a tensor of `ndim` dims (error when out of range).
  Placement normalized(int64_t ndim) const;

  bool operator==(const Placement& o) const {
    return kind_ == o.kind_ && (kind_ != Kind::Shard || dim_ == o.dim_) &&
           (kind_ != Kind::Partial || op_ == o.op_);
  }
  bool operator!=(const Placement& o) const { return !(*this == o); }
  size_t hash() const {
    return static_cast<size_t>(kind_) * 1000003u + static_cast<size_t>(dim_) * 31u +
           static_cast<size_t>(op_);
  }

 private:
  Kind kind_;
  int64_t dim_ = 0;
  comm::ReduceOp op_ = comm::ReduceOp::Sum;
};

using Placements = std::vector<Placement>;  // one entry per mesh dimension

std::ostream& operator<<(std::ostream& os, const Placement& p);
std::ostream& operator<<(std::ostream& os, const Placements& p);  // "[S(0), R]"
std::string to_string(const Placements& p);

// torch.chunk layout of `size` elements over `n` ranks: (local size, global offset) of `rank`.
// An empty piece reports offset == size.
std::pair<int64_t, int64_t> local_shard_size_and_offset(int64_t size, int64_t n, int64_t rank);

}  // namespace dtensor
