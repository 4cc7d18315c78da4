// Structured pruning: GQA-consistent shapes, exact no-ops, exact removal of
// unused structures, FLAP's bias compensation, and parameter targets.
#include <cmath>
#include <cstdlib>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include "core/error.h"
#include "model/checkpoint.h"
#include "pipeline/prune_model.h"
#include "prune/importance.h"
#include "prune/structured.h"
#include "prune/structures.h"
#include "prune_test_util.h"

namespace slmkit {
namespace {

// Allclose for logits that went through a differently shaped (but equivalent) computation.
constexpr double kEquivalentAtol = 2e-5;

PruneRecipe structured(const std::string& criterion, double target, AllocationMode mode) {
  PruneRecipe r;
  r.method = "structured";
  r.criterion = criterion;
  r.target_params = target;
  r.allocation.mode = mode;
  return r;
}

void expect_gqa_shapes(const Model& m, int64_t group) {
  const int64_t hd = m.config.head_dim, h = m.config.hidden_size;
  for (int64_t l = 0; l < m.config.num_layers(); ++l) {
    const LayerDims& d = m.config.layers[static_cast<size_t>(l)];
    const std::string p = Model::layer_prefix(l);
    EXPECT_EQ(d.num_heads, d.num_kv_heads * group) << "layer " << l << " query heads per KV head changed";
    EXPECT_GE(d.num_kv_heads, 1);
    EXPECT_EQ(m.linear(p + "self_attn.q_proj").out_features(), d.num_heads * hd);
    EXPECT_EQ(m.linear(p + "self_attn.k_proj").out_features(), d.num_kv_heads * hd);
    EXPECT_EQ(m.linear(p + "self_attn.v_proj").out_features(), d.num_kv_heads * hd);
    EXPECT_EQ(m.linear(p + "self_attn.o_proj").in_features(), d.num_heads * hd);
    EXPECT_EQ(m.linear(p + "self_attn.o_proj").out_features(), h);
    EXPECT_EQ(m.linear(p + "mlp.gate_proj").out_features(), d.intermediate_size);
    EXPECT_EQ(m.linear(p + "mlp.up_proj").out_features(), d.intermediate_size);
    EXPECT_EQ(m.linear(p + "mlp.down_proj").in_features(), d.intermediate_size);
  }
}

TEST(StructuredPrune, GlobalFlapKeepsGqaShapesConsistentAndTheModelRuns) {
  Model m = load_model(test::data_path(test::kMixed));
  const int64_t group = m.config.layers[0].num_heads / m.config.layers[0].num_kv_heads;
  const PruneSummary s =
      prune_model(m, test::small_calibration(test::kMixed), structured("flap", 0.6, AllocationMode::kGlobal));
  expect_gqa_shapes(m, group);
  int64_t kv_removed = 0;
  for (const auto& l : s.layers) kv_removed += static_cast<int64_t>(l.removed_kv_groups.size());
  EXPECT_GT(kv_removed, 0) << "a 40% cut should take some KV groups";
  EXPECT_EQ(s.block_params_after, m.block_parameter_count());
  EXPECT_EQ(m.config.parameter_count(), m.parameter_count()) << "config and tensors disagree";
  EXPECT_TRUE(at::isfinite(test::logits_of(m)).all().item<bool>());
}

TEST(StructuredPrune, UniformWandaOnStoriesKeepsOneShapeInEveryLayer) {
  Model m = load_model(test::data_path(test::kStories));
  const PruneSummary s =
      prune_model(m, test::small_calibration(test::kStories), structured("wanda", 0.7, AllocationMode::kUniform));
  expect_gqa_shapes(m, 2);
  EXPECT_TRUE(s.uniform_shape);
  for (const LayerDims& d : m.config.layers) {
    EXPECT_EQ(d.num_kv_heads, 3) << "round(0.7 x 4) KV groups";
    EXPECT_EQ(d.intermediate_size, m.config.layers[0].intermediate_size);
  }
  EXPECT_TRUE(at::isfinite(test::logits_of(m)).all().item<bool>());
}

TEST(StructuredPrune, KeepingEverythingIsTheIdentity) {
  const at::Tensor windows = test::small_calibration(test::kStories);
  const Model base = load_model(test::data_path(test::kStories));
  const at::Tensor expected = test::logits_of(base);
  for (const char* criterion : {"magnitude", "wanda", "flap"})
    for (AllocationMode mode : {AllocationMode::kUniform, AllocationMode::kGlobal}) {
      Model m = load_model(test::data_path(test::kStories));
      const PruneSummary s = prune_model(m, windows, structured(criterion, 1.0, mode));
      EXPECT_EQ(s.block_params_after, s.block_params_before) << criterion;
      EXPECT_FALSE(s.bias_compensation) << criterion;
      EXPECT_TRUE(at::equal(test::logits_of(m), expected)) << criterion;
    }
}

TEST(StructuredPrune, AZeroedKvGroupScoresLowestAndRemovingItChangesNothing) {
  c10::InferenceMode guard;
  Model m = load_model(test::data_path(test::kStories));
  const int64_t layer = 2, dead = 1, hd = m.config.head_dim, group = 2;
  const std::string p = Model::layer_prefix(layer) + "self_attn.";
  auto weight = [&](const char* n) { return m.linear(p + n).dense_weight(); };
  weight("q_proj").narrow(0, dead * group * hd, group * hd).zero_();
  weight("k_proj").narrow(0, dead * hd, hd).zero_();
  weight("v_proj").narrow(0, dead * hd, hd).zero_();
  weight("o_proj").narrow(1, dead * group * hd, group * hd).zero_();
  const at::Tensor before = test::logits_of(m);

  BlockWeights w{weight("q_proj"), weight("k_proj"), weight("v_proj"), weight("o_proj"),
                 m.linear(Model::layer_prefix(layer) + "mlp.gate_proj").dense_weight(),
                 m.linear(Model::layer_prefix(layer) + "mlp.up_proj").dense_weight(),
                 m.linear(Model::layer_prefix(layer) + "mlp.down_proj").dense_weight()};
  const ChannelScores cs = channel_scores(w, {}, 4, hd, StructureCriterion::kMagnitude);
  const at::Tensor groups = kv_group_scores(standardize(cs.attention), 4);
  EXPECT_EQ(groups.argmin().item<int64_t>(), dead);

  LayerKeep keep;
  keep.kv_groups = {0, 2, 3};
  for (int64_t c = 0; c < m.config.layers[layer].intermediate_size; ++c) keep.channels.push_back(c);
  prune_block_structures(m, layer, keep);
  m.finalize("test");
  EXPECT_EQ(m.config.layers[layer].num_kv_heads, 3);
  EXPECT_EQ(m.config.layers[layer].num_heads, 6);
  EXPECT_TRUE(at::allclose(test::logits_of(m), before, 0, kEquivalentAtol));
}

TEST(StructuredPrune, RemovedChannelsBiasIsExactForConstantInputs) {
  const at::Tensor w = at::randn({5, 8}, at::kDouble);
  const at::Tensor b = at::randn({5}, at::kDouble);
  at::Tensor x = at::randn({20, 8}, at::kDouble);
  x.select(1, 2).fill_(0.7);
  x.select(1, 5).fill_(-1.3);
  const at::Tensor removed = at::tensor({2, 5}, at::kLong), kept = at::tensor({0, 1, 3, 4, 6, 7}, at::kLong);
  const at::Tensor mean = x.mean(0);
  const at::Tensor full = at::addmm(b, x, w.t());
  const at::Tensor pruned =
      at::addmm(b + removed_channels_bias(w, mean, removed), x.index_select(1, kept), w.index_select(1, kept).t());
  EXPECT_TRUE(at::allclose(pruned, full, 1e-12, 1e-12));
}

// An MLP channel whose gate/up rows are zero outputs silu(b_gate)·b_up for every
// token; a KV group whose v rows are zero makes its query heads output v's bias
// (attention weights sum to 1). FLAP's compensation then removes both exactly.
TEST(StructuredPrune, FlapBiasCompensationIsExactOnConstantChannelsInAModel) {
  c10::InferenceMode guard;
  Model m = test::biased_synthetic_llama();
  const int64_t layer = 1, channel = 17, dead = 2, hd = m.config.head_dim, group = 2;
  const std::string p = Model::layer_prefix(layer);
  const LayerDims dims = m.config.layers[layer];
  m.linear(p + "mlp.gate_proj").dense_weight().select(0, channel).zero_();
  m.linear(p + "mlp.up_proj").dense_weight().select(0, channel).zero_();
  m.linear(p + "self_attn.v_proj").dense_weight().narrow(0, dead * hd, hd).zero_();
  const at::Tensor before = test::logits_of(m, 512);

  at::Tensor down_mean = at::zeros({dims.intermediate_size}, at::kDouble);
  const double gate_bias = m.linear(p + "mlp.gate_proj").bias[channel].item<double>();
  down_mean[channel] = gate_bias / (1.0 + std::exp(-gate_bias)) * m.linear(p + "mlp.up_proj").bias[channel].item<double>();
  at::Tensor o_mean = at::zeros({dims.num_heads * hd}, at::kDouble);
  const at::Tensor v_bias = m.linear(p + "self_attn.v_proj").bias.narrow(0, dead * hd, hd).to(at::kDouble);
  for (int64_t q = 0; q < group; ++q) o_mean.narrow(0, (dead * group + q) * hd, hd).copy_(v_bias);

  LayerKeep keep;
  keep.kv_groups = {0, 1, 3};
  for (int64_t c = 0; c < dims.intermediate_size; ++c)
    if (c != channel) keep.channels.push_back(c);
  prune_block_structures(m, layer, keep, o_mean, down_mean);
  complete_bias_layout(m);
  m.finalize("test");
  EXPECT_TRUE(at::allclose(test::logits_of(m, 512), before, 0, kEquivalentAtol));
}

TEST(StructuredPrune, ReachesTheParameterTargetAndCountsExactly) {
  const at::Tensor windows = test::small_calibration(test::kStories);
  for (const char* criterion : {"magnitude", "wanda", "flap"})
    for (AllocationMode mode : {AllocationMode::kUniform, AllocationMode::kGlobal}) {
      Model m = load_model(test::data_path(test::kStories));
      const PruneSummary s = prune_model(m, windows, structured(criterion, 0.7, mode));
      const int64_t target = std::llround(0.7 * static_cast<double>(s.block_params_before));
      EXPECT_EQ(s.target_params, target);
      EXPECT_EQ(s.block_params_after, m.block_parameter_count());
      EXPECT_EQ(m.config.parameter_count(), m.parameter_count());
      // The cost model the allocation uses is exact for the pruned shapes.
      int64_t predicted = 0;
      for (int64_t l = 0; l < m.config.num_layers(); ++l) {
        const LayerDims& d = m.config.layers[static_cast<size_t>(l)];
        predicted += block_costs(m.config, l).params(d.num_kv_heads, d.intermediate_size);
      }
      EXPECT_EQ(predicted, s.block_params_after) << criterion;
      const int64_t channel = block_costs(m.config, 0).channel;
      const int64_t n_layers = m.config.num_layers();
      if (mode == AllocationMode::kGlobal) {
        EXPECT_GE(s.block_params_after, target) << criterion;
        EXPECT_LT(s.block_params_after - target, channel) << criterion;
      } else {
        EXPECT_LE(std::llabs(s.block_params_after - target), n_layers * channel / 2 + n_layers) << criterion;
      }
    }
}

TEST(StructuredPrune, GlobalAllocationRespectsPerLayerBounds) {
  Model m = load_model(test::data_path(test::kStories));
  PruneRecipe r = structured("flap", 0.3, AllocationMode::kGlobal);
  r.allocation.min_kv_groups = 2;
  r.allocation.min_channel_fraction = 0.25;
  prune_model(m, test::small_calibration(test::kStories), r);
  for (const LayerDims& d : m.config.layers) {
    EXPECT_GE(d.num_kv_heads, 2);
    EXPECT_GE(d.intermediate_size, 43) << "ceil(0.25 x 172)";
  }
}

TEST(StructuredPrune, BadTargetsCriteriaAndMissingCalibrationAreRefused) {
  Model m = load_model(test::data_path(test::kStories));
  EXPECT_THROW(prune_model(m, {}, structured("magnitude", 0.0, AllocationMode::kUniform)), Error);
  EXPECT_THROW(prune_model(m, {}, structured("magnitude", 1.5, AllocationMode::kUniform)), Error);
  EXPECT_THROW(prune_model(m, {}, structured("sparsegpt", 0.5, AllocationMode::kUniform)), Error);
  EXPECT_THROW(prune_model(m, {}, structured("flap", 0.5, AllocationMode::kUniform)), Error) << "needs calibration";
}

}  // namespace
}  // namespace slmkit
