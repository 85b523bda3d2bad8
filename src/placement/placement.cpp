#include <dtensor/placement.h>

#include <c10/util/Exception.h>
#include <c10/util/StringUtil.h>

namespace dtensor {

Partial::Partial(std::string op) : reduce_op(std::move(op)) {
  comm::parse_reduce_op(reduce_op);  // validates
}

Placement::Placement(const Partial& p)
    : kind_(Kind::Partial), op_(comm::parse_reduce_op(p.reduce_op)) {}

int64_t Placement::shard_dim() const {
  TORCH_CHECK(is_shard(), "shard_dim() called on placement ", str(), ", which is not a Shard");
  return dim_;
}

comm::ReduceOp Placement::reduce_op() const {
  TORCH_CHECK(is_partial(), "reduce_op() called on placement ", str(), ", which is not a Partial");
  return op_;
}

std::string Placement::reduce_op_name() const { return comm::reduce_op_name(reduce_op()); }

std::string Placement::str() const {
  switch (kind_) {
    case Kind::Shard:
      return "S(" + std::to_string(dim_) + ")";
    case Kind::Replicate:
      return "R";
    case Kind::Partial:
      return std::string("P(") + comm::reduce_op_name(op_) + ")";
  }
  return "?";
}

std::string Placement::repr() const {
  switch (kind_) {
    case Kind::Shard:
      return "Shard(dim=" + std::to_string(dim_) + ")";
    case Kind::Replicate:
      return "Replicate()";
    case Kind::Partial:
      return std::string("Partial(") + comm::reduce_op_name(op_) + ")";
  }
  return "?";
}

Placement Placement::normalized(int64_t ndim) const {
  if (!is_shard()) return *this;
  TORCH_CHECK_INDEX(dim_ < ndim, "Sharding dim ", dim_, " greater than tensor ndim ", ndim,
                    " (a Shard dim must lie in [", -ndim, ", ", ndim - 1, "])");
  TORCH_CHECK_INDEX(dim_ >= -ndim, "Sharding dim ", dim_, " is below -", ndim, " for a tensor of ",
                    ndim, " dims (a Shard dim must lie in [", -ndim, ", ", ndim - 1, "])");
  return Shard(dim_ < 0 ? dim_ + ndim : dim_);
}

std::ostream& operator<<(std::ostream& os, const Placement& p) { return os << p.str(); }

std::string to_string(const Placements& p) {
  std::vector<std::string> parts;
  for (const auto& x : p) parts.push_back(x.str());
  return "[" + c10::Join(", ", parts) + "]";
}

std::ostream& operator<<(std::ostream& os, const Placements& p) { return os << to_string(p); }

std::pair<int64_t, int64_t> local_shard_size_and_offset(int64_t size, int64_t n, int64_t rank) {
  const int64_t full = (size + n - 1) / n;
  const int64_t begin = std::min(size, full * rank);
  const int64_t end = std::min(size, full * (rank + 1));
  if (end <= begin) return {0, size};
  return {end - begin, begin};
}

}  // namespace dtensor
