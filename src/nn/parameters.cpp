#include <dtensor/nn/parameters.h>

#include <map>
#include <mutex>
#include <unordered_set>

#include <dtensor/nn/layers.h>

namespace dtensor::nn {
namespace {

// The registry of parameters is protected in torch::nn::Module; a pointer to member formed in a
// derived class reaches it without any cast.
struct Access : torch::nn::Module {
  static constexpr auto parameters = &Access::parameters_;
};

// The buffer registry is private and register_buffer cannot overwrite. Access checks do not apply
// to the arguments of an explicit instantiation ([temp.spec]), which is the one standard way to
// name a private member from outside: the instantiation below exports a pointer to it.
struct BuffersTag {
  using type = torch::OrderedDict<std::string, at::Tensor> torch::nn::Module::*;
  friend type member_pointer(BuffersTag);
};
template <class Tag, typename Tag::type Member>
struct ExportMember {
  friend typename Tag::type member_pointer(Tag) { return Member; }
};
template struct ExportMember<BuffersTag, &torch::nn::Module::buffers_>;

std::mutex g_mutex;
std::map<std::pair<const torch::nn::Module*, std::string>, at::Tensor*>& bindings() {
  static auto* b = new std::map<std::pair<const torch::nn::Module*, std::string>, at::Tensor*>();
  return *b;
}

// Member fields of the layers dtensor knows.
at::Tensor* builtin_member(torch::nn::Module& m, const std::string& name) {
  if (auto* l = dynamic_cast<torch::nn::LinearImpl*>(&m)) return name == "weight" ? &l->weight : name == "bias" ? &l->bias : nullptr;
  if (auto* e = dynamic_cast<torch::nn::EmbeddingImpl*>(&m)) return name == "weight" ? &e->weight : nullptr;
  if (auto* n = dynamic_cast<torch::nn::LayerNormImpl*>(&m)) return name == "weight" ? &n->weight : name == "bias" ? &n->bias : nullptr;
  if (auto* r = dynamic_cast<RMSNormImpl*>(&m)) return name == "weight" ? &r->weight : nullptr;
  return nullptr;
}

at::Tensor* member_of(torch::nn::Module& m, const std::string& name) {
  if (at::Tensor* builtin = builtin_member(m, name)) return builtin;
  std::lock_guard<std::mutex> lock(g_mutex);
  auto it = bindings().find({&m, name});
  return it == bindings().end() ? nullptr : it->second;
}

}  // namespace

void bind_parameter(torch::nn::Module& module, const std::string& name, at::Tensor* member) {
  TORCH_CHECK(member != nullptr, "bind_parameter: null member for '", name, "'");
  std::lock_guard<std::mutex> lock(g_mutex);
  bindings()[{&module, name}] = member;
}

void replace_parameter(torch::nn::Module& module, const std::string& name, at::Tensor value) {
  auto& params = module.*Access::parameters;
  auto* slot = params.find(name);
  TORCH_CHECK(slot != nullptr, "replace_parameter: ", module.name(), " has no parameter '", name,
              "'; it has [", c10::Join(", ", params.keys()), "]");
  if (value.is_leaf() && slot->defined()) value.set_requires_grad(slot->requires_grad());
  *slot = value;
  if (at::Tensor* member = member_of(module, name)) *member = value;
}

void replace_buffer(torch::nn::Module& module, const std::string& name, at::Tensor value) {
  auto& buffers = module.*member_pointer(BuffersTag{});
  auto* slot = buffers.find(name);
  TORCH_CHECK(slot != nullptr, "replace_buffer: ", module.name(), " has no buffer '", name, "'");
  *slot = value;
  if (at::Tensor* member = member_of(module, name)) *member = value;
}

std::vector<at::Tensor> unique_parameters(const torch::nn::Module& module) {
  std::vector<at::Tensor> out;
  std::unordered_set<const c10::TensorImpl*> seen;
  for (const auto& p : module.parameters())
    if (seen.insert(p.unsafeGetTensorImpl()).second) out.push_back(p);
  return out;
}

}  // namespace dtensor::nn
