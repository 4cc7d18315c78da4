#include "lowrank/rank_allocation.h"

#include <queue>

#include "core/error.h"
#include "lowrank/decomposition.h"

namespace slmkit {
namespace {

int64_t dense_params(const LayerSpectrum& l) { return l.out_features * l.in_features; }
int64_t term_params(const LayerSpectrum& l) { return l.out_features + l.in_features; }

// Sets `r` to rank `rank`, or dense when that rank saves nothing.
void set_rank(const LayerSpectrum& l, int64_t rank, LayerRank& r) {
  if (rank > break_even_rank(l.out_features, l.in_features)) {
    r.dense = true;
    r.rank = std::min(l.out_features, l.in_features);
    r.params = dense_params(l);
  } else {
    r.dense = false;
    r.rank = rank;
    r.params = rank * term_params(l);
  }
}

int64_t total(const std::vector<LayerRank>& rs) {
  int64_t n = 0;
  for (const LayerRank& r : rs) n += r.params;
  return n;
}

// Whether giving layer `i` one more term fits: the step costs out + in, or less
// when it makes the layer dense.
bool try_grow(const LayerSpectrum& l, LayerRank& r, int64_t& used, int64_t budget) {
  if (r.dense) return false;
  LayerRank next = r;
  set_rank(l, r.rank + 1, next);
  if (used - r.params + next.params > budget) return false;
  used += next.params - r.params;
  r = next;
  return true;
}

void allocate_uniform(const std::vector<LayerSpectrum>& layers, int64_t budget, int64_t min_rank,
                      std::vector<LayerRank>& out) {
  double dense_total = 0;
  for (const LayerSpectrum& l : layers) dense_total += static_cast<double>(dense_params(l));
  const double ratio = static_cast<double>(budget) / dense_total;
  for (size_t i = 0; i < layers.size(); ++i) {
    const LayerSpectrum& l = layers[i];
    const double mn = static_cast<double>(dense_params(l)), cost = static_cast<double>(term_params(l));
    set_rank(l, std::max<int64_t>(min_rank, static_cast<int64_t>(ratio * mn / cost)), out[i]);
  }
  // Floors raised to min_rank can overshoot: take terms back from the largest ranks.
  int64_t over = total(out) - budget;
  while (over > 0) {
    size_t widest = layers.size();
    for (size_t i = 0; i < layers.size(); ++i)
      if (!out[i].dense && out[i].rank > min_rank && (widest == layers.size() || out[i].rank > out[widest].rank))
        widest = i;
    SLMKIT_ASSERT(widest < layers.size(), "uniform allocation cannot meet a budget above the min-rank floor");
    const int64_t before = out[widest].params;
    set_rank(layers[widest], out[widest].rank - 1, out[widest]);
    over -= before - out[widest].params;
  }
  // The floors leave a little budget: hand it out one term at a time, round robin.
  int64_t used = total(out);
  for (bool grew = true; grew;) {
    grew = false;
    for (size_t i = 0; i < layers.size(); ++i) grew = try_grow(layers[i], out[i], used, budget) || grew;
  }
}

void allocate_greedy(const std::vector<LayerSpectrum>& layers, int64_t budget, std::vector<LayerRank>& out) {
  for (const LayerSpectrum& l : layers)
    SLMKIT_ASSERT(l.values.defined() && l.values.dim() == 1 &&
                      l.values.size(0) == std::min(l.out_features, l.in_features),
                  "greedy rank allocation needs one value per term");
  std::vector<at::Tensor> values;
  for (const LayerSpectrum& l : layers) values.push_back(l.values.to(at::kDouble).contiguous());
  // (value per parameter of the layer's next term, layer): largest first; ties → lower layer index.
  using Item = std::pair<double, int64_t>;
  auto worse = [](const Item& x, const Item& y) { return x.first < y.first || (x.first == y.first && x.second > y.second); };
  std::priority_queue<Item, std::vector<Item>, decltype(worse)> next(worse);
  auto push = [&](size_t i) {
    const LayerRank& r = out[i];
    if (r.dense || r.rank >= values[i].size(0)) return;
    const double v = values[i].data_ptr<double>()[r.rank];
    next.emplace(v / static_cast<double>(term_params(layers[i])), static_cast<int64_t>(i));
  };
  for (size_t i = 0; i < layers.size(); ++i) push(i);
  int64_t used = total(out);
  while (!next.empty()) {
    const size_t i = static_cast<size_t>(next.top().second);
    next.pop();
    // A layer whose next term does not fit is done; smaller layers may still fit.
    if (try_grow(layers[i], out[i], used, budget)) push(i);
  }
}

}  // namespace

RankSelection parse_rank_selection(const std::string& name) {
  if (name == "uniform") return RankSelection::kUniform;
  if (name == "energy") return RankSelection::kEnergy;
  if (name == "error") return RankSelection::kError;
  throw Error(cat("unknown rank selection \"", name, "\" (expected uniform, energy or error)"));
}

const char* rank_selection_name(RankSelection s) {
  switch (s) {
    case RankSelection::kUniform: return "uniform";
    case RankSelection::kEnergy: return "energy";
    case RankSelection::kError: return "error";
  }
  return "?";
}

RankAllocation allocate_ranks(const std::vector<LayerSpectrum>& layers, int64_t budget,
                              const RankAllocationConfig& config) {
  SLMKIT_CHECK(config.min_rank >= 1, "the minimum rank must be at least 1, found ", config.min_rank);
  RankAllocation a;
  a.layers.resize(layers.size());
  int64_t dense_total = 0, floor_total = 0;
  for (size_t i = 0; i < layers.size(); ++i) {
    const LayerSpectrum& l = layers[i];
    SLMKIT_ASSERT(l.out_features > 0 && l.in_features > 0);
    dense_total += dense_params(l);
    LayerRank floor;
    set_rank(l, config.min_rank, floor);
    floor_total += floor.params;
  }
  if (budget >= dense_total) {
    for (size_t i = 0; i < layers.size(); ++i) set_rank(layers[i], std::min(layers[i].out_features,
                                                                             layers[i].in_features), a.layers[i]);
    a.params = total(a.layers);
    return a;
  }
  SLMKIT_CHECK(budget >= floor_total, "the parameter target is too small: even rank ", config.min_rank, " in every ",
               "factorized linear takes ", floor_total, " parameters, the budget is ", budget,
               "; raise --target or lower --min-rank");
  if (config.mode == RankSelection::kUniform) {
    allocate_uniform(layers, budget, config.min_rank, a.layers);
  } else {
    for (size_t i = 0; i < layers.size(); ++i) set_rank(layers[i], config.min_rank, a.layers[i]);
    allocate_greedy(layers, budget, a.layers);
  }
  a.params = total(a.layers);
  SLMKIT_ASSERT(a.params <= budget, "allocation took ", a.params, " of ", budget, " parameters");
  return a;
}

}  // namespace slmkit
