// Rank allocation: the break-even rule, the parameter target, and that the
// greedy modes give rank where it is worth most.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "lowrank/decomposition.h"
#include "lowrank/rank_allocation.h"
#include "test_util.h"

namespace slmkit {
namespace {

// Normalized, descending term values with a given decay per term.
at::Tensor decaying_values(int64_t k, double decay) {
  at::Tensor v = at::pow(at::full({k}, decay, at::kDouble), at::arange(k, at::kDouble));
  return v / v.sum();
}

std::vector<LayerSpectrum> mixed_layers(uint64_t seed) {
  // Shapes of one Llama block (q, k, v, o, gate, up, down at hidden 96, 2 KV heads of 16, MLP 256), twice.
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{96, 96}, {32, 96}, {32, 96}, {96, 96},
                                                           {256, 96}, {256, 96}, {96, 256}};
  at::Generator gen = at::detail::createCPUGenerator(seed);
  std::vector<LayerSpectrum> layers;
  for (int rep = 0; rep < 2; ++rep)
    for (auto [out, in] : shapes) {
      LayerSpectrum l;
      l.out_features = out;
      l.in_features = in;
      at::Tensor v = at::rand({std::min(out, in)}, gen, at::kDouble).square();
      l.values = std::get<0>(v.sort(0, /*descending=*/true)) / v.sum();
      layers.push_back(l);
    }
  return layers;
}

int64_t dense_total(const std::vector<LayerSpectrum>& layers) {
  int64_t n = 0;
  for (const auto& l : layers) n += l.out_features * l.in_features;
  return n;
}

void expect_valid(const std::vector<LayerSpectrum>& layers, const RankAllocation& a, int64_t budget,
                  const std::string& what) {
  ASSERT_EQ(a.layers.size(), layers.size());
  int64_t sum = 0, smallest_step = INT64_MAX;
  for (size_t i = 0; i < layers.size(); ++i) {
    const LayerSpectrum& l = layers[i];
    const LayerRank& r = a.layers[i];
    if (r.dense) {
      EXPECT_EQ(r.params, l.out_features * l.in_features) << what;
    } else {
      EXPECT_GE(r.rank, 1) << what;
      EXPECT_LE(r.rank, break_even_rank(l.out_features, l.in_features)) << what << " layer " << i;
      EXPECT_LT(r.rank * (l.out_features + l.in_features), l.out_features * l.in_features) << what;
      EXPECT_EQ(r.params, r.rank * (l.out_features + l.in_features)) << what;
      smallest_step = std::min(smallest_step, l.out_features + l.in_features);
    }
    sum += r.params;
  }
  EXPECT_EQ(sum, a.params) << what;
  EXPECT_LE(a.params, budget) << what;
  // Meets the target: what is left could not buy one more term anywhere.
  EXPECT_LT(budget - a.params, smallest_step) << what;
}

TEST(RankAllocation, EveryModeMeetsTheBudgetBelowBreakEven) {
  const auto layers = mixed_layers(1);
  const int64_t total = dense_total(layers);
  for (RankSelection mode : {RankSelection::kUniform, RankSelection::kEnergy, RankSelection::kError})
    for (double target : {0.2, 0.4, 0.6, 0.8, 0.95}) {
      RankAllocationConfig c;
      c.mode = mode;
      const int64_t budget = static_cast<int64_t>(target * static_cast<double>(total));
      expect_valid(layers, allocate_ranks(layers, budget, c), budget,
                   std::string(rank_selection_name(mode)) + " " + std::to_string(target));
    }
}

TEST(RankAllocation, UniformKeepsTheSameShareOfBreakEvenEverywhere) {
  const auto layers = mixed_layers(2);
  RankAllocationConfig c;
  c.mode = RankSelection::kUniform;
  const int64_t budget = static_cast<int64_t>(0.6 * static_cast<double>(dense_total(layers)));
  const RankAllocation a = allocate_ranks(layers, budget, c);
  for (size_t i = 0; i < layers.size(); ++i) {
    const double m = static_cast<double>(layers[i].out_features), n = static_cast<double>(layers[i].in_features);
    // SVD-LLM's rule r = ratio·mn/(m+n), within the one term the remainder hands out.
    EXPECT_NEAR(static_cast<double>(a.layers[i].rank), 0.6 * m * n / (m + n), 1.01) << "layer " << i;
  }
}

TEST(RankAllocation, GreedyGivesRankToTheLayerWhoseSpectrumDecaysSlowly) {
  // Two equal layers: one whose energy sits in few terms, one spread out. At
  // the same budget the spread one needs (and gets) more rank.
  LayerSpectrum steep{128, 128, decaying_values(128, 0.5)}, flat{128, 128, decaying_values(128, 0.97)};
  const RankAllocation a = allocate_ranks({steep, flat}, 40 * 256, {RankSelection::kEnergy, 1});
  ASSERT_FALSE(a.layers[0].dense || a.layers[1].dense);
  EXPECT_LT(a.layers[0].rank, a.layers[1].rank);
  EXPECT_LE(a.layers[0].rank, 12) << "0.5^12 of the energy is left; the flat layer's next terms are worth more";
  EXPECT_EQ(a.layers[0].rank + a.layers[1].rank, 40);
}

TEST(RankAllocation, ALayerThatReachesBreakEvenStaysDense) {
  // A flat spectrum is worth keeping whole: with room for it, the layer stays dense
  // (cheaper than factors at the break-even rank) and the other layer gets the rest.
  LayerSpectrum flat{32, 32, at::full({32}, 1.0 / 32, at::kDouble)}, steep{32, 32, decaying_values(32, 0.3)};
  const RankAllocation a = allocate_ranks({flat, steep}, 32 * 32 + 4 * 64, {RankSelection::kError, 1});
  EXPECT_TRUE(a.layers[0].dense);
  EXPECT_FALSE(a.layers[1].dense);
  EXPECT_EQ(a.layers[1].rank, 4);
}

TEST(RankAllocation, BudgetsOutsideTheRangeAreHandled) {
  const auto layers = mixed_layers(3);
  const RankAllocation all = allocate_ranks(layers, dense_total(layers), {});
  for (const LayerRank& r : all.layers) EXPECT_TRUE(r.dense);
  const std::string msg = test::error_of([&] { allocate_ranks(layers, 100, {}); });
  EXPECT_NE(msg.find("too small"), std::string::npos) << msg;
  EXPECT_NE(test::error_of([&] { parse_rank_selection("entropy"); }).find("uniform, energy or error"),
            std::string::npos);
}

}  // namespace
}  // namespace slmkit
