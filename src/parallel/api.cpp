#include <dtensor/parallel/api.h>

#include <fnmatch.h>

#include <c10/util/StringUtil.h>
#include <torch/nn/module.h>

#include <dtensor/nn/hooks.h>

#include "util/log.h"

namespace dtensor::parallel {
namespace {

void check_tp_mesh(const DeviceMesh& mesh) {
  TORCH_CHECK_VALUE(mesh.ndim() == 1, "Tensor Parallel only accepts a 1D DeviceMesh, but found ", mesh.ndim(),
                    "D! If you have a 2-D or N-D device_mesh, consider passing in device_mesh[\"tp\"]");
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    auto dot = path.find('.', start);
    parts.push_back(path.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) return parts;
    start = dot + 1;
  }
}

std::string join_path(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

void apply_at(torch::nn::Module& module, const std::string& key, const std::vector<std::string>& tokens,
              size_t depth, const std::string& path, const DeviceMesh& mesh, const ParallelStyle& style,
              const ParallelizeOptions& options) {
  if (depth == tokens.size()) {
    style.apply(module, mesh, ApplyContext{options.src_data_rank, path});
    return;
  }
  const std::string& token = tokens[depth];
  std::vector<std::string> children;
  bool matched = false;
  for (const auto& child : module.named_children()) {
    children.push_back(child.key());
    if (fnmatch(token.c_str(), child.key().c_str(), 0) != 0) continue;
    matched = true;
    apply_at(*child.value(), key, tokens, depth + 1, join_path(path, child.key()), mesh, style, options);
  }
  TORCH_CHECK_VALUE(matched, "Parallelize plan key '", key, "' could not be resolved: no submodule matching "
                    "token '", token, "' in module ", path.empty() ? std::string("(root)") : "'" + path + "'",
                    " (", module.name(), "), whose children are [", c10::Join(", ", children), "]");
}

// Names every module of the tree so CommDebugMode can report per-module collectives.
void record_paths(torch::nn::Module& root) {
  for (const auto& m : root.named_modules("", /*include_self=*/false)) nn::detail::set_module_path(*m.value(), m.key());
}

}  // namespace

std::shared_ptr<torch::nn::Module> parallelize_module(std::shared_ptr<torch::nn::Module> module,
                                                      const DeviceMesh& mesh, const ParallelizePlan& plan,
                                                      const ParallelizeOptions& options) {
  TORCH_CHECK_VALUE(module != nullptr, "parallelize_module: the module is null; pass a constructed module "
                    "(a holder converts with .ptr())");
  check_tp_mesh(mesh);
  if (plan.empty()) {
    DTENSOR_WARN("No parallelize_plan is provided and auto-parallel is not supported at the moment, so "
                 "this parallelize_module call will do nothing.");
    return module;
  }
  // Every style is checked before any module changes, so a bad plan leaves the model untouched.
  for (const auto& entry : plan) entry.second.validate();
  record_paths(*module);
  for (const auto& [key, style] : plan) {
    auto tokens = key.empty() ? std::vector<std::string>{} : split_path(key);
    apply_at(*module, key, tokens, 0, "", mesh, style, options);
  }
  return module;
}

std::shared_ptr<torch::nn::Module> parallelize_module(std::shared_ptr<torch::nn::Module> module,
                                                      const DeviceMesh& mesh, const ParallelStyle& style,
                                                      const ParallelizeOptions& options) {
  return parallelize_module(std::move(module), mesh, ParallelizePlan{{"", style}}, options);
}

}  // namespace dtensor::parallel
