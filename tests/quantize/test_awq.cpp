// AWQ on real and synthetic blocks: the scale folding is an exact rewrite, the
// searches include their no-op candidates (so they can only help what they
// measure), GQA blocks skip v → o, and on stories260k AWQ + RTN beats RTN.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include <chrono>
#include <iostream>

#include "model/checkpoint.h"
#include "model/forward.h"
#include "model/synthetic.h"
#include "quantize/awq.h"
#include "quantize/awq_search.h"
#include "quantize/rtn.h"
#include "test_util.h"

namespace slmkit {
namespace {

const std::string kStories = "models/stories260k";

Model stories() { return load_model(test::data_path(kStories)); }

// Inputs of block `layer` [windows, tokens, hidden] for random token windows,
// propagated through the full-precision blocks before it.
at::Tensor block_inputs(const Model& m, int64_t layer, int64_t windows, int64_t tokens, uint64_t seed) {
  const at::Tensor ids = at::randint(0, m.config.vocab_size, {windows, tokens},
                                     at::detail::createCPUGenerator(seed), at::TensorOptions(at::kLong));
  at::Tensor h = embed(m, ids, 0);
  for (int64_t l = 0; l < layer; ++l) h = decoder_layer(m, l, h, 0, nullptr);
  return h;
}

at::Tensor block_output(const Model& m, int64_t layer, const at::Tensor& x) {
  return decoder_layer(m, layer, x, 0, nullptr);
}

double relative_error(const at::Tensor& ours, const at::Tensor& ref) {
  return (ours - ref).norm().item<double>() / ref.norm().item<double>();
}

double mse(const at::Tensor& a, const at::Tensor& b) { return (a - b).pow(2).mean().item<double>(); }

// Every linear of the block replaced by its RTN codes, dequantized.
void rtn_block(Model& m, int64_t layer, const QuantGrid& grid) {
  for (const std::string& short_name : m.block_linear_names()) {
    Linear& l = m.linear(Model::layer_prefix(layer) + short_name);
    const IntegerWeights q = quantize_rtn(l.dense_weight(), grid);
    const at::Tensor g = q.g_idx.to(at::kLong);
    const at::Tensor w = q.scales.index_select(1, g) * (q.codes - q.zeros.index_select(1, g)).to(at::kFloat);
    l = make_dense_linear(w.to(m.dtype), l.bias);
  }
}

bool has_group(const AwqBlockStats& s, const std::string& name) {
  for (const auto& [group, ratio] : s.best_ratio)
    if (group == name) return true;
  return false;
}

// A GPT-2 block with stories260k's sizes, random weights and random LayerNorm
// weights and biases (synthesize_model leaves them at 1 and 0, which would hide
// a bias that was not rescaled).
Model synthetic_gpt2() {
  ModelConfig c = preset_config("stories260k");
  c.model_type = "gpt2";
  c.arch = Arch::kGPT2;
  c.hidden_act = "gelu_new";
  c.qkv_bias = c.o_bias = c.mlp_bias = true;
  for (LayerDims& l : c.layers) l.num_kv_heads = l.num_heads;
  Model m = synthesize_model(c, 7);
  at::Generator gen = at::detail::createCPUGenerator(8);
  for (auto& [name, t] : m.tensors) {
    if (name.find("layernorm.weight") != std::string::npos) t = at::normal(1.0, 0.3, t.sizes(), gen);
    if (name.find("layernorm.bias") != std::string::npos) t = at::normal(0.0, 0.3, t.sizes(), gen);
  }
  return m;
}

TEST(AwqPseudoQuantize, FollowsLlmAwqFormulaWithPartialLastGroup) {
  c10::InferenceMode guard;
  // 2-bit asym, one row, groups {0,1,2} and {3,4}. Group 0: min −1, max 2 →
  // scale 1, zero 1; 0.5/1 rounds half to even → 0 → dequantized 0.
  // Group 1: min 0.2, max 0.8 → scale 0.2, zero clamp(−1) = 0, so 0.2 → 1·0.2,
  // 0.8 → 4 → clamped to 3 → 0.6 (llm-awq does not widen the range to 0).
  const at::Tensor w = at::tensor({-1.0f, 0.5f, 2.0f, 0.2f, 0.8f}).view({1, 5});
  const at::Tensor q = awq_pseudo_quantize(w, QuantGrid{2, 3, false});
  const at::Tensor expected = at::tensor({-1.0f, 0.0f, 2.0f, 0.2f, 0.6f}).view({1, 5});
  EXPECT_TRUE(at::allclose(q, expected, 1e-6, 1e-6)) << q;

  // Symmetric 3-bit: scale = amax/3, codes in [−4, 3].
  const at::Tensor ws = at::tensor({-3.0f, 1.4f, 3.0f}).view({1, 3});
  const at::Tensor qs = awq_pseudo_quantize(ws, QuantGrid{3, -1, true});
  EXPECT_TRUE(at::allclose(qs, at::tensor({-3.0f, 1.0f, 3.0f}).view({1, 3}))) << qs;
}

TEST(AwqFolding, ScalingAloneLeavesStories260kBlocksUnchanged) {
  c10::InferenceMode guard;
  const Model m = stories();
  for (int64_t layer = 0; layer < m.config.num_layers(); ++layer) {
    const at::Tensor x = block_inputs(m, layer, 4, 32, 11);
    const at::Tensor ref = block_output(m, layer, x);
    AwqConfig config;
    config.clip = false;
    config.fixed_ratio = 1.0;  // s = x_mean / sqrt(max·min): scales far from 1
    Model scaled = m;
    awq_transform_block(scaled, layer, x, config);
    const std::string norm = Model::layer_prefix(layer) + "input_layernorm.weight";
    EXPECT_GT(relative_error(scaled.tensor(norm), m.tensor(norm)), 0.1) << "the norm absorbed non-trivial scales";
    EXPECT_LT(relative_error(block_output(scaled, layer, x), ref), 1e-5) << "layer " << layer;
    EXPECT_EQ(relative_error(block_output(m, layer, x), ref), 0.0) << "the original model is untouched";
  }
}

TEST(AwqFolding, SearchedScalesWithoutClipLeaveBlockUnchanged) {
  c10::InferenceMode guard;
  const Model m = stories();
  const at::Tensor x = block_inputs(m, 0, 8, 64, 12);
  AwqConfig config;
  config.grid = QuantGrid{3, 32, false};
  config.clip = false;
  Model scaled = m;
  AwqBlockStats stats;
  awq_transform_block(scaled, 0, x, config, &stats);
  double max_ratio = 0;
  for (const auto& [group, ratio] : stats.best_ratio) max_ratio = std::max(max_ratio, ratio);
  EXPECT_GT(max_ratio, 0.0) << "3-bit search should pick some non-trivial scale";
  EXPECT_LT(relative_error(block_output(scaled, 0, x), block_output(m, 0, x)), 1e-5);
}

TEST(AwqFolding, Gpt2LayerNormWeightAndBiasAbsorbScales) {
  c10::InferenceMode guard;
  const Model m = synthetic_gpt2();
  const at::Tensor x = block_inputs(m, 1, 4, 32, 13);
  AwqConfig config;
  config.clip = false;
  config.fixed_ratio = 1.0;
  Model scaled = m;
  AwqBlockStats stats;
  awq_transform_block(scaled, 1, x, config, &stats);
  EXPECT_LT(relative_error(block_output(scaled, 1, x), block_output(m, 1, x)), 1e-5);
  ASSERT_EQ(stats.best_ratio.size(), 3u);
  EXPECT_TRUE(has_group(stats, "input_layernorm -> q_proj,k_proj,v_proj"));
  EXPECT_TRUE(has_group(stats, "v_proj -> o_proj"));
  EXPECT_TRUE(has_group(stats, "post_attention_layernorm -> up_proj")) << "no up -> down across GELU";
  const std::string bias = Model::layer_prefix(1) + "input_layernorm.bias";
  EXPECT_GT(relative_error(scaled.tensor(bias), m.tensor(bias)), 0.1);
}

TEST(AwqGroups, GqaSkipsValueToOutputScaling) {
  c10::InferenceMode guard;
  const Model m = stories();  // 8 query heads, 4 KV heads
  AwqConfig config;
  config.clip = false;
  AwqBlockStats stats;
  Model scaled = m;
  awq_transform_block(scaled, 0, block_inputs(m, 0, 4, 32, 14), config, &stats);
  ASSERT_EQ(stats.best_ratio.size(), 3u);
  for (const auto& [group, ratio] : stats.best_ratio) EXPECT_EQ(group.find("o_proj"), std::string::npos) << group;
  EXPECT_TRUE(has_group(stats, "up_proj -> down_proj"));

  // The same shapes without GQA: v → o is scaled, and still exactly.
  ModelConfig c = preset_config("stories260k");
  for (LayerDims& l : c.layers) l.num_kv_heads = l.num_heads;
  const Model mha = synthesize_model(c, 3);
  const at::Tensor x = block_inputs(mha, 0, 4, 32, 15);
  config.fixed_ratio = 1.0;
  AwqBlockStats mha_stats;
  Model mha_scaled = mha;
  awq_transform_block(mha_scaled, 0, x, config, &mha_stats);
  EXPECT_EQ(mha_stats.best_ratio.size(), 4u);
  EXPECT_TRUE(has_group(mha_stats, "v_proj -> o_proj"));
  EXPECT_LT(relative_error(block_output(mha_scaled, 0, x), block_output(mha, 0, x)), 1e-5);
}

TEST(AwqSearch, RatioZeroIsPlainQuantizationAndBoundsTheSearchedLoss) {
  c10::InferenceMode guard;
  const Model m = stories();
  const at::Tensor x = block_inputs(m, 0, 8, 64, 16);
  AwqConfig config;
  config.grid = QuantGrid{3, 32, false};
  config.chunk = 3;  // uneven chunks: the loss must still cover every window once
  AwqBlockStats stats;
  Model scaled = m;
  awq_transform_block(scaled, 0, x, config, &stats);
  ASSERT_EQ(stats.loss_before.size(), stats.loss_after.size());
  for (size_t i = 0; i < stats.loss_before.size(); ++i) {
    EXPECT_GT(stats.loss_before[i].second, 0.0) << stats.loss_before[i].first;
    EXPECT_LE(stats.loss_after[i].second, stats.loss_before[i].second) << stats.loss_after[i].first;
  }

  // The MLP group's unscaled loss, computed independently: gate and up
  // pseudo-quantized as they are, MLP output MSE against full precision.
  const at::Tensor h = x + attention_sublayer(m, 0, block_norm(m, 0, true, x), 0, nullptr);
  const at::Tensor normed = block_norm(m, 0, false, h);
  Model plain = m;
  for (const char* name : {"mlp.gate_proj", "mlp.up_proj"}) {
    Linear& l = plain.linear(Model::layer_prefix(0) + name);
    l = make_dense_linear(awq_pseudo_quantize(l.dense_weight(), config.grid), l.bias);
  }
  const double expected = mse(mlp_sublayer(plain, 0, normed), mlp_sublayer(m, 0, normed));
  bool found = false;
  for (const auto& [group, loss] : stats.loss_before) {
    if (group != "post_attention_layernorm -> gate_proj,up_proj") continue;
    found = true;
    EXPECT_NEAR(loss, expected, 1e-5 * expected);
  }
  EXPECT_TRUE(found);
}

TEST(AwqClip, SearchNeverIncreasesTheErrorItMeasures) {
  c10::InferenceMode guard;
  const Model m = stories();
  const at::Tensor x = block_inputs(m, 0, 8, 64, 17);
  // down_proj: 172 inputs, so g32 leaves a partial last group of 12.
  std::vector<at::Tensor> seen;
  const LinearTap tap = [&](const std::string& name, const at::Tensor& in) {
    if (name == Model::layer_prefix(0) + "mlp.down_proj") seen.push_back(in);
  };
  decoder_layer(m, 0, x, 0, nullptr, &tap);
  ASSERT_EQ(seen.size(), 1u);
  const at::Tensor tokens = seen[0].reshape({-1, seen[0].size(-1)}).slice(0, 0, 512);
  const at::Tensor w = m.linear(Model::layer_prefix(0) + "mlp.down_proj").dense_weight();
  AwqConfig config;
  config.grid = QuantGrid{3, 32, false};
  const AwqClipResult r = awq_search_clip(w, tokens, config);
  ASSERT_EQ(r.max_val.sizes(), (std::vector<int64_t>{64, 6}));
  EXPECT_TRUE((r.error_best <= r.error_unclipped).all().item<bool>());
  EXPECT_TRUE((r.error_best < r.error_unclipped).any().item<bool>()) << "3-bit: clipping helps some groups";

  // Bounds, and the reported error is the error of the clamped weights.
  const at::Tensor clipped = awq_apply_clip(w, r.max_val, config.grid);
  for (int64_t g = 0; g < 6; ++g) {
    const int64_t c0 = g * 32, width = std::min<int64_t>(32, 172 - c0);
    const at::Tensor amax = w.narrow(1, c0, width).abs().amax(1);
    const at::Tensor mv = r.max_val.select(1, g);
    EXPECT_TRUE((mv <= amax).all().item<bool>());
    EXPECT_TRUE((mv >= 0.55 * amax - 1e-6).all().item<bool>());
    const at::Tensor x_g = tokens.narrow(1, c0, width);
    const at::Tensor q_g = awq_pseudo_quantize(clipped.narrow(1, c0, width), QuantGrid{3, -1, false});
    const at::Tensor err = (x_g.matmul(q_g.t()) - x_g.matmul(w.narrow(1, c0, width).t())).pow(2).mean(0);
    EXPECT_TRUE(at::allclose(err, r.error_best.select(1, g), 1e-4, 1e-9)) << "group " << g;
  }
}

TEST(AwqQuality, BeatsRtnOnStories260kBlock0At3And4Bits) {
  c10::InferenceMode guard;
  const Model m = stories();
  const at::Tensor calib = block_inputs(m, 0, 16, 64, 18);
  const at::Tensor eval = block_inputs(m, 0, 16, 64, 19);  // held-out windows
  const at::Tensor ref = block_output(m, 0, eval);
  for (int bits : {3, 4}) {
    const QuantGrid grid{bits, 32, false};
    Model rtn = m;
    rtn_block(rtn, 0, grid);
    AwqConfig config;
    config.grid = grid;
    Model awq = m;
    AwqBlockStats stats;
    const auto t0 = std::chrono::steady_clock::now();
    awq_transform_block(awq, 0, calib, config, &stats);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    rtn_block(awq, 0, grid);
    const double mse_rtn = mse(block_output(rtn, 0, eval), ref);
    const double mse_awq = mse(block_output(awq, 0, eval), ref);
    std::cout << "[awq] stories260k block 0, " << describe(grid) << ": block output MSE RTN " << mse_rtn
              << ", AWQ+RTN " << mse_awq << " (transform " << seconds << " s, " << stats.clipped_linears
              << " linears clipped)\n";
    EXPECT_EQ(stats.clipped_linears, 5);
    EXPECT_LT(mse_awq, mse_rtn) << describe(grid);
  }
}

TEST(AwqQuality, Bfloat16ModelKeepsItsDtypeAndStillBeatsRtn) {
  c10::InferenceMode guard;
  const Model m = load_model(test::data_path(kStories), LoadOptions{at::kBFloat16});
  const at::Tensor calib = block_inputs(m, 0, 16, 64, 22), eval = block_inputs(m, 0, 16, 64, 23);
  const at::Tensor ref = block_output(m, 0, eval).to(at::kFloat);
  AwqConfig config;
  config.grid = QuantGrid{3, 32, false};
  Model awq = m, rtn = m;
  awq_transform_block(awq, 0, calib, config);
  for (const std::string& name : m.block_linear_names())
    EXPECT_EQ(awq.linear(Model::layer_prefix(0) + name).dense_weight().scalar_type(), at::kBFloat16) << name;
  EXPECT_EQ(awq.tensor(Model::layer_prefix(0) + "input_layernorm.weight").scalar_type(), at::kBFloat16);
  rtn_block(awq, 0, config.grid);
  rtn_block(rtn, 0, config.grid);
  EXPECT_LT(mse(block_output(awq, 0, eval).to(at::kFloat), ref), mse(block_output(rtn, 0, eval).to(at::kFloat), ref));
}

TEST(AwqQuality, AllStories260kBlocksBeatRtnOnLogits) {
  c10::InferenceMode guard;
  const Model m = stories();
  const int64_t seed = 21;
  const at::Tensor calib_ids = at::randint(0, m.config.vocab_size, {16, 64}, at::detail::createCPUGenerator(seed),
                                           at::TensorOptions(at::kLong));
  const at::Tensor eval_ids = at::randint(0, m.config.vocab_size, {16, 64}, at::detail::createCPUGenerator(seed + 1),
                                          at::TensorOptions(at::kLong));
  const at::Tensor ref = forward(m, eval_ids);
  for (int bits : {3, 4}) {
    const QuantGrid grid{bits, 32, false};
    AwqConfig config;
    config.grid = grid;
    Model rtn = m, awq = m;
    at::Tensor h = embed(m, calib_ids, 0);
    const auto t0 = std::chrono::steady_clock::now();
    for (int64_t layer = 0; layer < m.config.num_layers(); ++layer) {
      awq_transform_block(awq, layer, h, config);
      h = decoder_layer(m, layer, h, 0, nullptr);  // llm-awq: the next block sees full-precision inputs
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (int64_t layer = 0; layer < m.config.num_layers(); ++layer) {
      rtn_block(rtn, layer, grid);
      rtn_block(awq, layer, grid);
    }
    const double mse_rtn = mse(forward(rtn, eval_ids), ref), mse_awq = mse(forward(awq, eval_ids), ref);
    std::cout << "[awq] stories260k all blocks, " << describe(grid) << ": logits MSE RTN " << mse_rtn
              << ", AWQ+RTN " << mse_awq << " (AWQ on 5 blocks " << seconds << " s)\n";
    EXPECT_LT(mse_awq, mse_rtn) << describe(grid);
  }
}

}  // namespace
}  // namespace slmkit
