// Every supported architecture variant, end to end: a synthetic Hugging Face
// directory (config.json + model.safetensors with random weights under the
// architecture's own names and layouts) is loaded with load_model, and its
// logits are checked against the independent float64 oracle and against
// KV-cache incremental decoding. Random weights make every parameter matter,
// so a mis-mapped name, a missed transpose or a wrong RoPE table shows up.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include <set>

#include "core/error.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "model/checkpoint.h"
#include "model/forward.h"
#include "model/reference_forward.h"
#include "model/synthetic_checkpoint.h"
#include "model/tensor_adapter.h"
#include "test_util.h"

namespace slmkit {
namespace {

using nlohmann::json;
using WeightMap = std::map<std::string, at::Tensor>;

constexpr int64_t kSeqLen = 20;

struct Synthetic {
  ModelConfig config;  // as parsed from the written config.json
  WeightMap weights;   // HF names without any prefix, as the oracle reads them
  std::string dir;
};

Synthetic make_synthetic(const json& config, uint64_t seed, const std::string& prefix = "",
                         const WeightMap& extra = {}) {
  Synthetic s;
  s.config = parse_hf_config(config, "synthetic config.json");
  s.weights = test::random_hf_tensors(s.config, seed);
  s.dir = test::make_temp_dir() + "/model";
  test::write_hf_checkpoint(s.dir, config, s.weights, prefix, extra);
  return s;
}

at::Tensor random_tokens(int64_t vocab, uint64_t seed) {
  return at::randint(0, vocab, {kSeqLen}, at::detail::createCPUGenerator(seed), at::TensorOptions(at::kLong));
}

at::Tensor oracle_logits(const ModelConfig& c, const WeightMap& w, const at::Tensor& tokens) {
  return c.arch == Arch::kGPT2 ? test::reference_gpt2_logits(c, w, tokens)
                               : test::reference_llama_logits(c, w, tokens);
}

// Largest deviation relative to the largest reference logit: fp32 against
// fp64 measures ~1e-6 here, a wrong layout or table is off by O(1), and even
// exact GELU in place of gelu_new's tanh form shows as ~1.5e-4.
double relative_error(const at::Tensor& ours, const at::Tensor& ref) {
  return (ours.to(at::kDouble) - ref).abs().max().item<double>() / ref.abs().max().item<double>();
}

void expect_matches_oracle(const Model& m, const Synthetic& s, const at::Tensor& tokens) {
  const at::Tensor ours = forward(m, tokens.view({1, -1}))[0];
  const at::Tensor ref = oracle_logits(s.config, s.weights, tokens);
  ASSERT_EQ(ours.sizes(), ref.sizes());
  EXPECT_LT(relative_error(ours, ref), 2e-5);
  // Guards against a vacuous pass: the logits must actually vary with position.
  EXPECT_GT((ref[kSeqLen - 1] - ref[0]).abs().max().item<double>(), 0.1);
}

// A prefill chunk, then one token at a time, must reproduce the full forward.
void expect_kv_cache_matches_full_forward(const Model& m, const at::Tensor& tokens) {
  const at::Tensor seq = tokens.view({1, -1});
  const at::Tensor full = forward(m, seq);
  KVCache cache = make_kv_cache(m, 1, kSeqLen + 4);
  std::vector<at::Tensor> steps{forward(m, seq.narrow(1, 0, 7), &cache)};
  for (int64_t t = 7; t < kSeqLen; ++t) steps.push_back(forward(m, seq.narrow(1, t, 1), &cache));
  EXPECT_EQ(cache.length, kSeqLen);
  EXPECT_LT((at::cat(steps, 1) - full).abs().max().item<float>(), 1e-5 * full.abs().max().item<float>());
}

// GPT-2 causal-mask buffers of old saves: [1, 1, n_pos, n_pos] and a scalar.
WeightMap gpt2_mask_buffers(const std::string& prefix, int64_t layers, int64_t positions) {
  WeightMap m;
  for (int64_t i = 0; i < layers; ++i) {
    const std::string p = prefix + "h." + std::to_string(i) + ".attn.";
    m[p + "bias"] = at::ones({positions, positions}, at::kFloat).tril().view({1, 1, positions, positions});
    m[p + "masked_bias"] = at::full({}, -1e4, at::kFloat);
  }
  return m;
}

// ---------------------------------------------------------------- GPT-2

TEST(GPT2, BareNamesWithMaskBuffersMatchOracle) {
  c10::InferenceMode guard;
  const Synthetic s = make_synthetic(test::gpt2_config_json(), 11, "", gpt2_mask_buffers("", 2, 64));
  const Model m = load_model(s.dir);
  EXPECT_EQ(m.config.layers[0].intermediate_size, 128) << "n_inner null means 4 * n_embd";
  // c_proj is square, so only the logits (not the shape check) catch a missed transpose.
  EXPECT_TRUE(at::equal(m.linear("model.layers.0.self_attn.o_proj").dense_weight(),
                        s.weights.at("h.0.attn.c_proj.weight").t()));
  expect_matches_oracle(m, s, random_tokens(64, 1));
}

TEST(GPT2, TransformerPrefixedNamesMatchOracleAndBareVariant) {
  c10::InferenceMode guard;
  const Synthetic s =
      make_synthetic(test::gpt2_config_json(), 11, "transformer.", gpt2_mask_buffers("transformer.", 2, 64));
  const Model prefixed = load_model(s.dir);
  const at::Tensor tokens = random_tokens(64, 2);
  expect_matches_oracle(prefixed, s, tokens);
  const Synthetic bare = make_synthetic(test::gpt2_config_json(), 11);  // same seed: same weights
  const Model m = load_model(bare.dir);
  EXPECT_TRUE(at::equal(forward(prefixed, tokens.view({1, -1})), forward(m, tokens.view({1, -1}))));
}

TEST(GPT2, KVCacheDecodingMatchesFullForward) {
  c10::InferenceMode guard;
  const Synthetic s = make_synthetic(test::gpt2_config_json(), 12);
  expect_kv_cache_matches_full_forward(load_model(s.dir), random_tokens(64, 3));
}

TEST(GPT2, SaveWritesGpt2LayoutAndReloadsIdentically) {
  c10::InferenceMode guard;
  const Synthetic s = make_synthetic(test::gpt2_config_json(), 13, "transformer.", gpt2_mask_buffers("transformer.", 2, 64));
  const Model m = load_model(s.dir);
  const std::string out = test::make_temp_dir() + "/saved";
  save_model(m, out);

  const Model back = load_model(out);
  const at::Tensor tokens = random_tokens(64, 4).view({1, -1});
  EXPECT_TRUE(at::equal(forward(m, tokens), forward(back, tokens)));
  EXPECT_EQ(back.parameter_count(), m.parameter_count());

  // The file holds exactly the GPT-2 tensors under bare GPT-2 names, in the
  // Conv1D layout, byte for byte what was loaded (no masks, no tied head).
  const TensorSet saved = read_safetensors(out + "/model.safetensors");
  std::set<std::string> names, expected;
  for (const auto& [name, v] : saved.tensors) names.insert(name);
  for (const auto& [name, t] : s.weights) expected.insert(name);
  EXPECT_EQ(names, expected);
  const TensorView& c_attn = saved.tensors.at("h.1.attn.c_attn.weight");
  EXPECT_EQ(c_attn.shape, (std::vector<int64_t>{32, 96}));
  for (const char* n : {"h.1.attn.c_attn.weight", "h.1.attn.c_attn.bias", "h.0.mlp.c_fc.weight", "h.0.mlp.c_proj.weight"})
    EXPECT_TRUE(at::equal(to_torch(saved.tensors.at(n), n), s.weights.at(n))) << n;
  const json cfg = read_json_file(out + "/config.json");
  EXPECT_EQ(cfg["model_type"], "gpt2");
  EXPECT_EQ(cfg["n_embd"], 32);
  EXPECT_EQ(cfg["n_inner"], 128);
}

// ---------------------------------------------------------------- Qwen2

TEST(Qwen2, GqaWithQkvBiasesAndUntiedHeadMatchesOracle) {
  c10::InferenceMode guard;
  const Synthetic s = make_synthetic(test::qwen2_config_json(), 21);
  EXPECT_EQ(s.config.sliding_window, 0) << "use_sliding_window is false";
  const Model m = load_model(s.dir);
  EXPECT_EQ(m.config.layers[1].num_kv_heads, 2);
  EXPECT_TRUE(m.linear("model.layers.1.self_attn.k_proj").bias.defined());
  EXPECT_FALSE(m.linear("model.layers.1.self_attn.o_proj").bias.defined()) << "Qwen2 o_proj has no bias";
  EXPECT_FALSE(m.linear("lm_head").dense_weight().is_same(m.tensor("model.embed_tokens.weight")));
  expect_matches_oracle(m, s, random_tokens(64, 5));
}

TEST(Qwen2, KVCacheDecodingMatchesFullForward) {
  c10::InferenceMode guard;
  const Synthetic s = make_synthetic(test::qwen2_config_json(), 22);
  expect_kv_cache_matches_full_forward(load_model(s.dir), random_tokens(64, 6));
}

TEST(Qwen2, MissingBiasIsAnErrorNamingIt) {
  const json config = test::qwen2_config_json();
  const ModelConfig c = parse_hf_config(config, "config.json");
  WeightMap w = test::random_hf_tensors(c, 23);
  w.erase("model.layers.1.self_attn.v_proj.bias");
  const std::string dir = test::make_temp_dir() + "/model";
  test::write_hf_checkpoint(dir, config, w);
  try {
    load_model(dir);
    FAIL() << "a Qwen2 checkpoint without v_proj.bias must be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.layers.1.self_attn.v_proj.bias"), std::string::npos) << e.what();
  }
}

// ---------------------------------------------------------------- Llama 3 RoPE scaling

TEST(Llama3Rope, ExplicitHeadDimAndScalingMatchOracle) {
  c10::InferenceMode guard;
  const Synthetic s = make_synthetic(test::llama3_config_json(), 31);
  const ModelConfig& c = s.config;
  EXPECT_EQ(c.head_dim, 12) << "head_dim from config.json, not hidden/heads = 8";
  EXPECT_EQ(c.rope_scaling.type, "llama3");
  EXPECT_EQ(c.rope_scaling.factor, 8.0);
  EXPECT_EQ(c.rope_scaling.low_freq_factor, 1.0);
  EXPECT_EQ(c.rope_scaling.high_freq_factor, 4.0);
  EXPECT_EQ(c.rope_scaling.original_max_positions, 32);
  const Model m = load_model(s.dir);
  EXPECT_EQ(m.linear("model.layers.0.self_attn.q_proj").out_features(), 48);
  EXPECT_TRUE(m.linear("lm_head").dense_weight().is_same(m.tensor("model.embed_tokens.weight")));
  expect_matches_oracle(m, s, random_tokens(64, 7));
}

TEST(Llama3Rope, ScalingChangesTheLogits) {
  // With theta 1e4, head_dim 12 and original 32 positions the wavelengths are
  // 6.3 (kept), 29 (smoothed) and >= 135 (divided by 8): all three branches.
  c10::InferenceMode guard;
  const Synthetic s = make_synthetic(test::llama3_config_json(), 32);
  json plain = test::llama3_config_json();
  plain.erase("rope_scaling");
  const ModelConfig unscaled = parse_hf_config(plain, "plain");
  const at::Tensor tokens = random_tokens(64, 8);
  const at::Tensor ours = forward(load_model(s.dir), tokens.view({1, -1}))[0];
  EXPECT_GT(relative_error(ours, oracle_logits(unscaled, s.weights, tokens)), 1e-3);
}

TEST(Llama3Rope, RopeParametersGiveTheSameLogits) {
  c10::InferenceMode guard;
  const Synthetic s = make_synthetic(test::llama3_config_json(), 33);
  // transformers 5: rope_parameters replaces rope_scaling and carries rope_theta.
  json v5 = test::llama3_config_json();
  json params = v5["rope_scaling"];
  params["rope_theta"] = v5["rope_theta"];
  v5.erase("rope_scaling");
  v5.erase("rope_theta");
  v5["rope_parameters"] = params;
  const std::string dir = test::make_temp_dir() + "/v5";
  test::write_hf_checkpoint(dir, v5, s.weights);
  const Model a = load_model(s.dir), b = load_model(dir);
  EXPECT_EQ(b.config.rope_scaling.type, "llama3");
  const at::Tensor tokens = random_tokens(64, 9).view({1, -1});
  EXPECT_TRUE(at::equal(forward(a, tokens), forward(b, tokens)));
}

TEST(Llama3Rope, KVCacheDecodingMatchesFullForward) {
  c10::InferenceMode guard;
  const Synthetic s = make_synthetic(test::llama3_config_json(), 34);
  expect_kv_cache_matches_full_forward(load_model(s.dir), random_tokens(64, 10));
}

// ---------------------------------------------------------------- Mistral

TEST(Mistral, SlidingWindowShorterThanSequenceMatchesOracle) {
  c10::InferenceMode guard;
  const Synthetic s = make_synthetic(test::mistral_config_json(), 41);
  EXPECT_EQ(s.config.sliding_window, 5);
  const Model m = load_model(s.dir);
  const at::Tensor tokens = random_tokens(64, 11);
  expect_matches_oracle(m, s, tokens);
  // The window must matter: full attention gives clearly different late logits.
  ModelConfig full_attention = s.config;
  full_attention.sliding_window = 0;
  EXPECT_GT(relative_error(forward(m, tokens.view({1, -1}))[0], oracle_logits(full_attention, s.weights, tokens)),
            1e-3);
}

TEST(Mistral, KVCacheDecodingRespectsTheWindow) {
  c10::InferenceMode guard;
  const Synthetic s = make_synthetic(test::mistral_config_json(), 42);
  expect_kv_cache_matches_full_forward(load_model(s.dir), random_tokens(64, 12));
}

// ---------------------------------------------------------------- Llama with biases

TEST(LlamaBias, AttentionAndMlpBiasesMatchOracle) {
  c10::InferenceMode guard;
  const Synthetic s = make_synthetic(test::llama_bias_config_json(), 51);
  const Model m = load_model(s.dir);
  for (const std::string& n : m.block_linear_names())
    EXPECT_TRUE(m.linear("model.layers.1." + n).bias.defined()) << n;
  expect_matches_oracle(m, s, random_tokens(64, 13));
}

TEST(LlamaBias, KVCacheDecodingMatchesFullForward) {
  c10::InferenceMode guard;
  const Synthetic s = make_synthetic(test::llama_bias_config_json(), 52);
  expect_kv_cache_matches_full_forward(load_model(s.dir), random_tokens(64, 14));
}

}  // namespace
}  // namespace slmkit
