// Every architecture variant the runtime supports, on tiny synthetic Hugging
// Face checkpoints with random weights (every parameter matters, so a mis-mapped
// name, a missed transpose, a wrong RoPE table or window shows as an O(1)
// error): runtime logits against the LibTorch reference forward on the same
// directory, and the loader's errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "io/json.h"
#include "model/checkpoint.h"
#include "model/synthetic_checkpoint.h"
#include "runtime/decoder_model.h"
#include "runtime/runtime_test_util.h"
#include "runtime/session.h"
#include "test_util.h"

namespace slmkit {
namespace {

using nlohmann::json;

constexpr int64_t kSeqLen = 20;  // longer than Mistral's window of 5

std::string write_synthetic(const json& config, uint64_t seed, const std::string& prefix = "") {
  const ModelConfig c = parse_hf_config(config, "synthetic config.json");
  const std::string dir = test::make_temp_dir() + "/model";
  test::write_hf_checkpoint(dir, config, test::random_hf_tensors(c, seed), prefix);
  return dir;
}

// Runtime and reference logits of the same random tokens; returns the relative error.
double runtime_vs_reference(const std::string& dir, uint64_t seed, int64_t max_chunk = 256) {
  const Model ref = load_model(dir);
  const runtime::DecoderModel rt = runtime::load_decoder_model(dir);
  const std::vector<int32_t> tokens = test::random_tokens(rt.config.vocab_size, kSeqLen, seed);
  const at::Tensor want = test::torch_logits(ref, tokens);
  EXPECT_GT(want.abs().max().item<double>(), 0.5);
  return test::relative_error(test::runtime_logits(rt, tokens, runtime::KvDType::kF32, max_chunk), want);
}

TEST(RuntimeArchitectures, Qwen2GqaWithQkvBiasesAndUntiedHead) {
  const std::string dir = write_synthetic(test::qwen2_config_json(), 21);
  EXPECT_LT(runtime_vs_reference(dir, 1), 1e-5);
  EXPECT_LT(runtime_vs_reference(dir, 2, 1), 1e-5);  // token by token
}

TEST(RuntimeArchitectures, Llama3RopeScalingWithExplicitHeadDimAndTiedHead) {
  const std::string dir = write_synthetic(test::llama3_config_json(), 31);
  EXPECT_LT(runtime_vs_reference(dir, 3), 1e-5);
}

TEST(RuntimeArchitectures, MistralSlidingWindowShorterThanTheSequence) {
  const std::string dir = write_synthetic(test::mistral_config_json(), 41);
  EXPECT_LT(runtime_vs_reference(dir, 4), 1e-5);
  EXPECT_LT(runtime_vs_reference(dir, 5, 3), 1e-5);  // windows across chunk borders
  // Without the window the logits differ: the test really exercises it.
  json no_window = test::mistral_config_json();
  no_window.erase("sliding_window");
  const std::string plain = write_synthetic(no_window, 41);
  const std::vector<int32_t> tokens = test::random_tokens(64, kSeqLen, 4);
  const at::Tensor a = test::runtime_logits(runtime::load_decoder_model(dir), tokens);
  const at::Tensor b = test::runtime_logits(runtime::load_decoder_model(plain), tokens);
  EXPECT_GT(test::relative_error(a, b), 1e-2);
}

TEST(RuntimeArchitectures, WideHeadsWithWindowAndGqaUseTheTiledAttentionPath) {
  // head_dim 16 = one whole output slice (the other synthetic models have head_dim
  // 8 or 12 and run only the tail loop); 2 query heads per KV head, window 5.
  json config = test::mistral_config_json();
  config["num_attention_heads"] = 2;
  config["num_key_value_heads"] = 1;
  const std::string dir = write_synthetic(config, 43);
  EXPECT_LT(runtime_vs_reference(dir, 12), 1e-5);
  EXPECT_LT(runtime_vs_reference(dir, 13, 7), 1e-5);
}

TEST(RuntimeArchitectures, LlamaWithAttentionAndMlpBiases) {
  const std::string dir = write_synthetic(test::llama_bias_config_json(), 51);
  EXPECT_LT(runtime_vs_reference(dir, 6), 1e-5);
}

TEST(RuntimeArchitectures, PrunedModelWithDifferentDimsPerLayer) {
  json config = test::qwen2_config_json();
  config["slmkit_layer_dims"] = json::array({
      {{"num_attention_heads", 4}, {"num_key_value_heads", 2}, {"intermediate_size", 48}},
      {{"num_attention_heads", 2}, {"num_key_value_heads", 1}, {"intermediate_size", 20}},
  });
  const std::string dir = write_synthetic(config, 61);
  EXPECT_LT(runtime_vs_reference(dir, 7), 1e-5);
  EXPECT_LT(runtime_vs_reference(dir, 8, 1), 1e-5);
}

TEST(RuntimeArchitectures, Gpt2WithTransformerPrefixAndConv1dLayout) {
  const std::string dir = write_synthetic(test::gpt2_config_json(), 11, "transformer.");
  EXPECT_LT(runtime_vs_reference(dir, 9), 1e-5);
  EXPECT_LT(runtime_vs_reference(dir, 10, 1), 1e-5);
}

TEST(RuntimeArchitectures, QuantizedQwen2WithBiasesMatchesWithinActivationRounding) {
  const std::string dense = write_synthetic(test::qwen2_config_json(), 71);
  const std::string q = test::write_rtn_copy(dense, 4, 16);  // hidden 32: two groups per row
  const runtime::DecoderModel rt = runtime::load_decoder_model(q);
  ASSERT_TRUE(rt.quantized());
  // The runtime's int8 activations add far less error than the 4-bit weights
  // themselves (what the quantized reference shows against the dense one).
  const std::vector<int32_t> tokens = test::random_tokens(64, kSeqLen, 11);
  const at::Tensor ref_q = test::torch_logits(load_model(q), tokens);
  const at::Tensor ref_dense = test::torch_logits(load_model(dense), tokens);
  const double activation_rounding = test::relative_error(test::runtime_logits(rt, tokens), ref_q);
  const double weight_rounding = test::relative_error(ref_q, ref_dense);
  EXPECT_GT(activation_rounding, 0.0);
  EXPECT_LT(activation_rounding, 0.25 * weight_rounding) << activation_rounding << " vs " << weight_rounding;
}

TEST(RuntimeLoader, MissingTensorIsAnErrorNamingIt) {
  const json config = test::qwen2_config_json();
  const ModelConfig c = parse_hf_config(config, "synthetic config.json");
  auto tensors = test::random_hf_tensors(c, 81);
  tensors.erase("model.layers.1.mlp.up_proj.weight");
  const std::string dir = test::make_temp_dir() + "/model";
  test::write_hf_checkpoint(dir, config, tensors);
  const std::string msg = test::error_of([&] { runtime::load_decoder_model(dir); });
  EXPECT_NE(msg.find("model.layers.1.mlp.up_proj.weight"), std::string::npos) << msg;
}

TEST(RuntimeLoader, WrongShapeIsAnErrorWithExpectedAndFound) {
  const json config = test::qwen2_config_json();
  const ModelConfig c = parse_hf_config(config, "synthetic config.json");
  auto tensors = test::random_hf_tensors(c, 82);
  tensors["model.layers.0.self_attn.k_proj.weight"] = at::zeros({8, 32});
  const std::string dir = test::make_temp_dir() + "/model";
  test::write_hf_checkpoint(dir, config, tensors);
  const std::string msg = test::error_of([&] { runtime::load_decoder_model(dir); });
  EXPECT_NE(msg.find("k_proj.weight has shape [8, 32], expected [16, 32]"), std::string::npos) << msg;
}

TEST(RuntimeLoader, UnknownTensorIsAnError) {
  const json config = test::qwen2_config_json();
  const ModelConfig c = parse_hf_config(config, "synthetic config.json");
  auto tensors = test::random_hf_tensors(c, 83);
  tensors["model.layers.0.self_attn.rotary_extra"] = at::zeros({4});
  const std::string dir = test::make_temp_dir() + "/model";
  test::write_hf_checkpoint(dir, config, tensors);
  const std::string msg = test::error_of([&] { runtime::load_decoder_model(dir); });
  EXPECT_NE(msg.find("unexpected tensor \"model.layers.0.self_attn.rotary_extra\""), std::string::npos) << msg;
}

TEST(RuntimeSession, FeedingPastTheCapacityOrAnOutOfRangeIdIsAnError) {
  const std::string dir = write_synthetic(test::qwen2_config_json(), 91);
  const runtime::DecoderModel rt = runtime::load_decoder_model(dir);
  runtime::SessionOptions o;
  o.capacity = 4;
  runtime::Session s(rt, o);
  const std::vector<int32_t> five = {1, 2, 3, 4, 5};
  EXPECT_NE(test::error_of([&] { s.forward(five.data(), 5); }).find("exceeds the session's 4"), std::string::npos);
  const int32_t bad = 64;
  EXPECT_NE(test::error_of([&] { s.forward(&bad, 1); }).find("token id out of range [0, 64): found 64"),
            std::string::npos);
  EXPECT_EQ(s.position(), 0);  // nothing was consumed
}

}  // namespace
}  // namespace slmkit
