// visualize_sharding: the table PyTorch prints (tabulate's "simple" format), as a string.
//
// Every rank's block is computed from the mesh and placements alone (no communication). A 1-D
// tensor is shown as a column (L, 1), as PyTorch does. Rows and columns are the distinct index
// ranges of the blocks, sorted; a cell lists "<device type>:<global rank>,<rank>..." for every rank
// holding that block, in mesh order. Layout: column width = max(header + 2, widest cell), columns
// separated by two spaces, a dashed rule under the header, trailing spaces trimmed:
//
//            Col 0-3
//   -------  ---------
//   Row 0-1  cpu:0
//   Row 2-3  cpu:1
//
// Beyond PyTorch's table, two notes follow it when they apply: ranks whose block is empty (PyTorch
// would list nonsense ranges such as "Row 3-2"), and Partial mesh dims (every block is then a
// partial value, not the tensor's entries).
#include <dtensor/debug/visualize.h>

#include <algorithm>
#include <map>
#include <sstream>

#include <c10/util/StringUtil.h>

#include <dtensor/tensor.h>

namespace dtensor::debug {
namespace {

using Range = std::pair<int64_t, int64_t>;  // inclusive

std::string rtrim(std::string s) {
  s.erase(s.find_last_not_of(' ') + 1);
  return s;
}

std::string pad(const std::string& s, size_t width) {
  return s + std::string(width > s.size() ? width - s.size() : 0, ' ');
}

// Mesh coordinate of the i-th rank of the mesh tensor in row-major order.
std::vector<int64_t> coordinate_of(int64_t i, const std::vector<int64_t>& mesh_shape) {
  std::vector<int64_t> coord(mesh_shape.size());
  for (int64_t m = static_cast<int64_t>(mesh_shape.size()) - 1; m >= 0; --m) {
    coord[m] = i % mesh_shape[m];
    i /= mesh_shape[m];
  }
  return coord;
}

}  // namespace

std::string visualize_sharding(const at::Tensor& t) {
  DTensor d(t);
  const auto& spec = d.spec();
  TORCH_CHECK(spec.ndim() == 1 || spec.ndim() == 2,
              "visualize sharding supports only 1D or 2D DTensor, got a tensor of ", spec.ndim(),
              " dims");
  if (spec.numel() == 0) return "";  // nothing to show, as in PyTorch
  const auto& mesh = spec.mesh();
  const std::string device = mesh.device_type();
  const auto ranks = mesh.mesh().flatten().contiguous();
  const auto mesh_shape = mesh.shape();

  std::map<std::pair<Range, Range>, std::vector<int64_t>> blocks;  // (rows, cols) -> ranks
  std::vector<int64_t> empty_ranks;
  for (int64_t i = 0; i < ranks.numel(); ++i) {
    const int64_t rank = ranks[i].item<int64_t>();
    auto [shape, offset] = spec.local_shape_and_offset(coordinate_of(i, mesh_shape));
    if (spec.ndim() == 1) {
      shape.push_back(1);
      offset.push_back(0);
    }
    if (shape[0] == 0 || shape[1] == 0) {
      empty_ranks.push_back(rank);
      continue;
    }
    blocks[{{offset[0], offset[0] + shape[0] - 1}, {offset[1], offset[1] + shape[1] - 1}}]
        .push_back(rank);
  }

  std::vector<Range> rows, cols;
  for (const auto& [key, holders] : blocks) {
    rows.push_back(key.first);
    cols.push_back(key.second);
  }
  for (auto* v : {&rows, &cols}) {
    std::sort(v->begin(), v->end());
    v->erase(std::unique(v->begin(), v->end()), v->end());
  }

  auto label = [](const char* what, const Range& r) {
    return c10::str(what, " ", r.first, "-", r.second);
  };
  std::vector<std::vector<std::string>> grid;  // grid[0] is the header
  grid.emplace_back(1, "");
  for (const auto& c : cols) grid[0].push_back(label("Col", c));
  for (const auto& r : rows) {
    std::vector<std::string> line{label("Row", r)};
    for (const auto& c : cols) {
      auto it = blocks.find({r, c});
      line.push_back(it == blocks.end() ? "" : device + ":" + c10::Join(",", it->second));
    }
    grid.push_back(std::move(line));
  }
  std::vector<size_t> width(grid[0].size());
  for (size_t j = 0; j < width.size(); ++j) {
    width[j] = grid[0][j].size() + 2;
    for (size_t i = 1; i < grid.size(); ++i) width[j] = std::max(width[j], grid[i][j].size());
  }

  std::ostringstream os;
  auto emit = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (size_t j = 0; j < cells.size(); ++j) line += (j ? "  " : "") + pad(cells[j], width[j]);
    os << rtrim(line) << "\n";
  };
  emit(grid[0]);
  std::vector<std::string> rule;
  for (size_t w : width) rule.emplace_back(w, '-');
  emit(rule);
  for (size_t i = 1; i < grid.size(); ++i) emit(grid[i]);
  if (!empty_ranks.empty()) {
    std::vector<std::string> names;
    for (int64_t r : empty_ranks) names.push_back(device + ":" + std::to_string(r));
    os << "empty shards: " << c10::Join(" ", names) << "\n";
  }
  for (size_t m = 0; m < spec.placements().size(); ++m) {
    const auto& p = spec.placements()[m];
    if (p.is_partial())
      os << "mesh dim " << m << " is " << p.repr() << ": blocks hold partial values\n";
  }
  return os.str();
}

}  // namespace dtensor::debug
