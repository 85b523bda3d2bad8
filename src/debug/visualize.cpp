#include <dtensor/debug/visualize.h>

#include <map>
#include <sstream>

#include <dtensor/tensor.h>

namespace dtensor::debug {
namespace {

std::string range(const char* what, int64_t begin, int64_t size) {
  if (size <= 0) return "";
  return c10::str(what, " ", begin, "-", begin + size - 1);
}

}  // namespace

std::string visualize_sharding(const at::Tensor& t) {
  DTensor d(t);
  const auto& spec = d.spec();
  TORCH_CHECK(spec.ndim() == 1 || spec.ndim() == 2, "visualize_sharding shows 1-D and 2-D tensors; "
              "this one has ", spec.ndim(), " dims");
  // Every rank's block, from the mesh and placements alone.
  std::map<std::pair<std::string, std::string>, std::vector<int64_t>> cells;  // (rows, cols) -> ranks
  std::vector<std::string> row_labels, col_labels;
  auto add_unique = [](std::vector<std::string>& v, const std::string& s) {
    if (!s.empty() && std::find(v.begin(), v.end(), s) == v.end()) v.push_back(s);
  };
  const auto mesh = spec.mesh().mesh().flatten();
  const auto shape = spec.mesh().shape();
  for (int64_t i = 0; i < mesh.numel(); ++i) {
    std::vector<int64_t> coord(shape.size());
    int64_t rest = i;
    for (int64_t m = static_cast<int64_t>(shape.size()) - 1; m >= 0; --m) {
      coord[m] = rest % shape[m];
      rest /= shape[m];
    }
    auto [local, offset] = spec.local_shape_and_offset(coord);
    std::string rows = spec.ndim() == 2 ? range("Row", offset[0], local[0]) : "";
    std::string cols = range("Col", offset.back(), local.back());
    if ((spec.ndim() == 2 && rows.empty()) || cols.empty()) continue;  // empty shard
    add_unique(row_labels, rows);
    add_unique(col_labels, cols);
    cells[{rows, cols}].push_back(mesh[i].item<int64_t>());
  }
  if (row_labels.empty()) row_labels.push_back("");
  std::vector<std::vector<std::string>> grid{{""}};
  for (const auto& c : col_labels) grid[0].push_back(c);
  for (const auto& r : row_labels) {
    std::vector<std::string> line{r};
    for (const auto& c : col_labels) {
      auto it = cells.find({r, c});
      line.push_back(it == cells.end() ? "" : "rank " + c10::Join(",", it->second));
    }
    grid.push_back(line);
  }
  std::vector<size_t> width(grid[0].size(), 0);
  for (const auto& line : grid)
    for (size_t j = 0; j < line.size(); ++j) width[j] = std::max(width[j], line[j].size());
  std::ostringstream os;
  if (spec.has_partial()) os << "(partial: every block holds a summand, placements " << to_string(spec.placements()) << ")\n";
  for (const auto& line : grid) {
    for (size_t j = 0; j < line.size(); ++j)
      os << line[j] << std::string(width[j] - line[j].size() + (j + 1 < line.size() ? 3 : 0), ' ');
    os << "\n";
  }
  return os.str();
}

}  // namespace dtensor::debug
