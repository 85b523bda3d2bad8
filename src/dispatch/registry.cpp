#include "dispatch/registry.h"

#include <mutex>
#include <unordered_map>

namespace dtensor {
namespace detail {
namespace {

struct NameHash {
  size_t operator()(const c10::OperatorName& n) const {
    return std::hash<std::string>()(n.name) ^ (std::hash<std::string>()(n.overload_name) << 1);
  }
};

std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}

// Function-local static: families register from static initialisers in any order.
std::unordered_map<c10::OperatorName, RuleEntry, NameHash>& registry() {
  static auto* table = new std::unordered_map<c10::OperatorName, RuleEntry, NameHash>();
  return *table;
}

c10::OperatorName parse_name(const std::string& full) {
  auto dot = full.find('.');
  if (dot == std::string::npos) return {full, ""};
  return {full.substr(0, dot), full.substr(dot + 1)};
}

}  // namespace

const RuleEntry* find_rule(const c10::OperatorName& name) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  auto it = registry().find(name);
  return it == registry().end() ? nullptr : &it->second;
}

}  // namespace detail

namespace ops {

OpCall::OpCall(const c10::OperatorHandle& op, c10::ArrayRef<c10::IValue> args,
               std::vector<SpecPtr> inputs, std::vector<int> input_args)
    : op_(op), args_(args), inputs_(std::move(inputs)), input_args_(std::move(input_args)) {}

c10::IValue OpCall::arg(const char* name) const {
  const auto& arguments = schema().arguments();
  for (size_t i = 0; i < arguments.size(); ++i) {
    if (arguments[i].name() != name) continue;
    if (i < args_.size()) return args_[i];
    TORCH_CHECK(arguments[i].default_value().has_value(), "argument '", name, "' of ",
                schema().name(), " was not passed and has no default");
    return *arguments[i].default_value();
  }
  TORCH_CHECK(false, schema().name(), " has no argument '", name, "'");
}

int OpCall::input_of_arg(int arg) const {
  for (size_t k = 0; k < input_args_.size(); ++k)
    if (input_args_[k] == arg) return static_cast<int>(k);
  return -1;
}

void register_rule(const std::string& op_name, Rule rule, RuleOptions options) {
  std::lock_guard<std::mutex> lock(detail::registry_mutex());
  detail::registry()[detail::parse_name(op_name)] = {std::move(rule), std::move(options)};
}

void register_rule(std::initializer_list<const char*> op_names, const Rule& rule,
                   const RuleOptions& options) {
  for (const char* name : op_names) register_rule(name, rule, options);
}

bool has_rule(const c10::OperatorName& name) { return detail::find_rule(name) != nullptr; }

Placements replicate(int64_t mesh_ndim) { return Placements(mesh_ndim, Replicate{}); }

Placements without_partial(const Placements& p) {
  Placements out = p;
  for (auto& x : out)
    if (x.is_partial()) x = Replicate{};
  return out;
}

Placements unshard_dims(const Placements& p, const std::vector<int64_t>& dims) {
  Placements out = p;
  for (auto& x : out)
    if (x.is_shard() && std::find(dims.begin(), dims.end(), x.shard_dim()) != dims.end())
      x = Replicate{};
  return out;
}

}  // namespace ops
}  // namespace dtensor
