#include "prune/layer_removal.h"

#include <algorithm>
#include <cstdlib>
#include <numeric>
#include <set>

#include "core/error.h"

namespace slmkit {
namespace {

// "model.layers.12.mlp.up_proj" → 12 and the rest after "model.layers.12."; -1 for other names.
int64_t layer_of(const std::string& name, std::string* rest) {
  static const std::string prefix = "model.layers.";
  if (name.rfind(prefix, 0) != 0) return -1;
  const size_t dot = name.find('.', prefix.size());
  SLMKIT_ASSERT(dot != std::string::npos, "odd tensor name ", name);
  *rest = name.substr(dot + 1);
  return std::stoll(name.substr(prefix.size(), dot - prefix.size()));
}

template <typename Map>
Map renumber(Map in, const std::vector<int64_t>& new_index) {
  Map out;
  for (auto& [name, value] : in) {
    std::string rest;
    const int64_t l = layer_of(name, &rest);
    if (l < 0) {
      out.emplace(name, std::move(value));
    } else if (new_index[static_cast<size_t>(l)] >= 0) {
      out.emplace(Model::layer_prefix(new_index[static_cast<size_t>(l)]) + rest, std::move(value));
    }
  }
  return out;
}

}  // namespace

void BlockInfluence::add(const at::Tensor& input, const at::Tensor& output) {
  const at::Tensor a = input.reshape({-1, input.size(-1)}).to(at::kFloat);
  const at::Tensor b = output.reshape({-1, output.size(-1)}).to(at::kFloat);
  cosine_sum += at::cosine_similarity(a, b, /*dim=*/1, /*eps=*/1e-8).to(at::kDouble).sum().item<double>();
  tokens += a.size(0);
}

std::vector<int64_t> choose_layers_to_remove(const std::vector<double>& influence,
                                             const std::vector<int64_t>& layer_params, int64_t target_params) {
  SLMKIT_ASSERT(influence.size() == layer_params.size() && !influence.empty(), "one influence per layer");
  std::vector<int64_t> order(influence.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return influence[static_cast<size_t>(a)] < influence[static_cast<size_t>(b)]; });
  int64_t kept = std::accumulate(layer_params.begin(), layer_params.end(), int64_t{0});
  int64_t best_count = 0, best_gap = std::llabs(kept - target_params);
  for (size_t n = 1; n < order.size(); ++n) {  // n layers removed; at least one stays
    kept -= layer_params[static_cast<size_t>(order[n - 1])];
    const int64_t gap = std::llabs(kept - target_params);
    if (gap < best_gap) {
      best_gap = gap;
      best_count = static_cast<int64_t>(n);
    }
  }
  std::vector<int64_t> removed(order.begin(), order.begin() + best_count);
  std::sort(removed.begin(), removed.end());
  return removed;
}

void remove_layers(Model& m, const std::vector<int64_t>& layers) {
  const int64_t n = m.config.num_layers();
  const std::set<int64_t> drop(layers.begin(), layers.end());
  SLMKIT_CHECK(drop.size() == layers.size(), "a layer is listed twice for removal");
  SLMKIT_CHECK(static_cast<int64_t>(drop.size()) < n, "cannot remove all ", n, " layers");
  for (int64_t l : drop) SLMKIT_CHECK(l >= 0 && l < n, "cannot remove layer ", l, ": the model has ", n);
  std::vector<int64_t> new_index(static_cast<size_t>(n), -1);
  std::vector<LayerDims> dims;
  for (int64_t l = 0, next = 0; l < n; ++l) {
    if (drop.count(l)) continue;
    new_index[static_cast<size_t>(l)] = next++;
    dims.push_back(m.config.layers[static_cast<size_t>(l)]);
  }
  m.tensors = renumber(std::move(m.tensors), new_index);
  m.linears = renumber(std::move(m.linears), new_index);
  m.config.layers = std::move(dims);
}

}  // namespace slmkit
