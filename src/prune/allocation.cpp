#include "prune/allocation.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <tuple>

#include "core/error.h"

namespace slmkit {
namespace {

// Indices of the `keep` highest scores, ascending (ties: the lower index is kept).
std::vector<int64_t> top_indices(const at::Tensor& scores, int64_t keep) {
  const int64_t n = scores.numel();
  const at::Tensor s = scores.to(at::kDouble).contiguous();
  const double* p = s.data_ptr<double>();
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return p[a] > p[b]; });
  order.resize(static_cast<size_t>(std::clamp<int64_t>(keep, 0, n)));
  std::sort(order.begin(), order.end());
  return order;
}

std::vector<int64_t> all_indices(int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

int64_t layer_params(const LayerCandidates& l, const LayerKeep& k) {
  return l.costs.params(static_cast<int64_t>(k.kv_groups.size()), static_cast<int64_t>(k.channels.size()));
}

Allocation uniform(const std::vector<LayerCandidates>& layers, int64_t target) {
  int64_t before = 0;
  for (const auto& l : layers) before += l.costs.params(l.kv_groups, l.channel_scores.numel());
  const double fraction = before > 0 ? static_cast<double>(target) / static_cast<double>(before) : 1.0;
  // Whole KV groups first, by rounding; the channels then absorb the rest.
  std::vector<int64_t> kv_keep;
  double fixed = 0, channel_budget_unit = 0;
  for (const auto& l : layers) {
    const int64_t kv = l.kv_group_scores.defined()
                           ? std::clamp<int64_t>(std::llround(fraction * static_cast<double>(l.kv_groups)), 1,
                                                 l.kv_groups)
                           : l.kv_groups;
    kv_keep.push_back(kv);
    fixed += static_cast<double>(l.costs.fixed + kv * l.costs.kv_group);
    channel_budget_unit += static_cast<double>(l.costs.channel * l.channel_scores.numel());
  }
  const double channel_fraction =
      channel_budget_unit > 0 ? (static_cast<double>(target) - fixed) / channel_budget_unit : 1.0;
  Allocation a;
  for (size_t i = 0; i < layers.size(); ++i) {
    const LayerCandidates& l = layers[i];
    const int64_t n = l.channel_scores.numel();
    const int64_t ch = std::clamp<int64_t>(std::llround(channel_fraction * static_cast<double>(n)), 1, n);
    LayerKeep k;
    k.kv_groups = l.kv_group_scores.defined() ? top_indices(l.kv_group_scores, kv_keep[i]) : all_indices(l.kv_groups);
    k.channels = top_indices(l.channel_scores, ch);
    a.params += layer_params(l, k);
    a.layers.push_back(std::move(k));
  }
  return a;
}

struct Candidate {
  double score;
  int64_t layer;
  bool attention;
  int64_t index;
};

Allocation global(const std::vector<LayerCandidates>& layers, int64_t target, const AllocationConfig& cfg) {
  SLMKIT_CHECK(cfg.min_kv_groups >= 1, "the minimum KV groups per layer must be >= 1, found ", cfg.min_kv_groups);
  SLMKIT_CHECK(cfg.min_channel_fraction >= 0 && cfg.min_channel_fraction <= 1, "the minimum channel fraction must be in ",
               "[0, 1], found ", cfg.min_channel_fraction);
  SLMKIT_CHECK(cfg.max_keep_fraction > 0 && cfg.max_keep_fraction <= 1, "the maximum keep fraction must be in (0, 1], ",
               "found ", cfg.max_keep_fraction);
  const size_t n_layers = layers.size();
  std::vector<std::vector<bool>> kv_alive(n_layers), ch_alive(n_layers);
  std::vector<int64_t> kv_count(n_layers), ch_count(n_layers), kv_min(n_layers), ch_min(n_layers);
  std::vector<Candidate> order;
  int64_t params = 0;
  for (size_t i = 0; i < n_layers; ++i) {
    const LayerCandidates& l = layers[i];
    const int64_t n_ch = l.channel_scores.numel();
    const bool attn = l.kv_group_scores.defined();
    kv_count[i] = l.kv_groups;
    ch_count[i] = n_ch;
    kv_alive[i].assign(static_cast<size_t>(l.kv_groups), true);
    ch_alive[i].assign(static_cast<size_t>(n_ch), true);
    kv_min[i] = attn ? std::min(cfg.min_kv_groups, l.kv_groups) : l.kv_groups;
    ch_min[i] = std::clamp<int64_t>(
        static_cast<int64_t>(std::ceil(cfg.min_channel_fraction * static_cast<double>(n_ch) - 1e-9)), 1, n_ch);
    params += l.costs.params(l.kv_groups, n_ch);
    // The upper bound is met first, by dropping the layer's least important structures.
    const int64_t kv_max = std::max(kv_min[i], static_cast<int64_t>(std::floor(cfg.max_keep_fraction *
                                                                               static_cast<double>(l.kv_groups))));
    const int64_t ch_max = std::max(ch_min[i], static_cast<int64_t>(std::floor(cfg.max_keep_fraction *
                                                                               static_cast<double>(n_ch))));
    if (attn) {
      const std::vector<int64_t> keep = top_indices(l.kv_group_scores, kv_max);
      for (int64_t g = 0; g < l.kv_groups; ++g) kv_alive[i][static_cast<size_t>(g)] = false;
      for (int64_t g : keep) kv_alive[i][static_cast<size_t>(g)] = true;
      params -= (l.kv_groups - kv_max) * l.costs.kv_group;
      kv_count[i] = kv_max;
      const at::Tensor s = l.kv_group_scores.to(at::kDouble).contiguous();
      for (int64_t g : keep) order.push_back({s.data_ptr<double>()[g], static_cast<int64_t>(i), true, g});
    }
    const std::vector<int64_t> keep = top_indices(l.channel_scores, ch_max);
    for (int64_t c = 0; c < n_ch; ++c) ch_alive[i][static_cast<size_t>(c)] = false;
    for (int64_t c : keep) ch_alive[i][static_cast<size_t>(c)] = true;
    params -= (n_ch - ch_max) * l.costs.channel;
    ch_count[i] = ch_max;
    const at::Tensor s = l.channel_scores.to(at::kDouble).contiguous();
    for (int64_t c : keep) order.push_back({s.data_ptr<double>()[c], static_cast<int64_t>(i), false, c});
  }
  // Least important first; a fixed tie order keeps the result reproducible.
  std::sort(order.begin(), order.end(), [](const Candidate& a, const Candidate& b) {
    return std::make_tuple(a.score, a.layer, a.attention, a.index) <
           std::make_tuple(b.score, b.layer, b.attention, b.index);
  });
  for (const Candidate& c : order) {
    if (params <= target) break;
    const size_t i = static_cast<size_t>(c.layer);
    const int64_t cost = c.attention ? layers[i].costs.kv_group : layers[i].costs.channel;
    // A structure that would take the total below the target is skipped: smaller
    // ones further down the list can still close the gap from above.
    if (params - cost < target) continue;
    if (c.attention) {
      if (kv_count[i] <= kv_min[i]) continue;
      kv_alive[i][static_cast<size_t>(c.index)] = false;
      --kv_count[i];
    } else {
      if (ch_count[i] <= ch_min[i]) continue;
      ch_alive[i][static_cast<size_t>(c.index)] = false;
      --ch_count[i];
    }
    params -= cost;
  }
  Allocation a;
  for (size_t i = 0; i < n_layers; ++i) {
    LayerKeep k;
    for (size_t g = 0; g < kv_alive[i].size(); ++g)
      if (kv_alive[i][g]) k.kv_groups.push_back(static_cast<int64_t>(g));
    for (size_t c = 0; c < ch_alive[i].size(); ++c)
      if (ch_alive[i][c]) k.channels.push_back(static_cast<int64_t>(c));
    a.params += layer_params(layers[i], k);
    a.layers.push_back(std::move(k));
  }
  SLMKIT_ASSERT(a.params == params, "allocation bookkeeping: ", a.params, " != ", params);
  return a;
}

}  // namespace

AllocationMode parse_allocation_mode(const std::string& name) {
  if (name == "uniform") return AllocationMode::kUniform;
  if (name == "global") return AllocationMode::kGlobal;
  throw Error(cat("unknown allocation \"", name, "\" (use uniform or global)"));
}

Allocation allocate_structures(const std::vector<LayerCandidates>& layers, int64_t target_params,
                               const AllocationConfig& config) {
  SLMKIT_CHECK(!layers.empty(), "structured pruning needs at least one layer");
  for (const auto& l : layers) {
    SLMKIT_ASSERT(l.channel_scores.defined() && l.channel_scores.numel() > 0, "a layer without MLP channels");
    SLMKIT_ASSERT(!l.kv_group_scores.defined() || l.kv_group_scores.numel() == l.kv_groups, "KV score count");
  }
  return config.mode == AllocationMode::kUniform ? uniform(layers, target_params)
                                                 : global(layers, target_params, config);
}

}  // namespace slmkit
