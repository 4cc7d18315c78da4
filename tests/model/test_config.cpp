// parse_hf_config: each malformed config.json is refused with a message that
// says what is wrong; valid ones round-trip through to_hf_config; and the
// parameter count implied by a config equals what the loaded model stores.
#include <gtest/gtest.h>

#include "core/error.h"
#include "model/checkpoint.h"
#include "model/config.h"
#include "model/synthetic_checkpoint.h"
#include "test_util.h"

namespace slmkit {
namespace {

using nlohmann::json;

// The message of the Error parse_hf_config throws for `j` ("" if none).
std::string parse_error(const json& j) {
  try {
    parse_hf_config(j, "/models/x/config.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

#define EXPECT_PARSE_ERROR(j, substring)                                                       \
  do {                                                                                         \
    const std::string msg_ = parse_error(j);                                                   \
    EXPECT_NE(msg_.find(substring), std::string::npos) << "message: \"" << msg_ << "\"";      \
    EXPECT_NE(msg_.find("/models/x/config.json"), std::string::npos) << "names the file: " << msg_; \
  } while (0)

TEST(ConfigErrors, MissingHiddenSize) {
  json j = test::llama_bias_config_json();
  j.erase("hidden_size");
  EXPECT_PARSE_ERROR(j, "missing required key \"hidden_size\"");
}

TEST(ConfigErrors, KvHeadsMustDivideHeads) {
  json j = test::llama_bias_config_json();
  j["hidden_size"] = 48;  // divisible by 6, so only the GQA rule is broken
  j["num_attention_heads"] = 6;
  j["num_key_value_heads"] = 4;
  EXPECT_PARSE_ERROR(j, "num_attention_heads (6) is not a multiple of num_key_value_heads (4)");
}

TEST(ConfigErrors, HiddenSizeMustDivideByHeads) {
  json j = test::llama_bias_config_json();
  j["hidden_size"] = 30;
  EXPECT_PARSE_ERROR(j, "hidden_size (30) is not divisible by num_attention_heads (4)");
  json g = test::gpt2_config_json();
  g["n_head"] = 5;
  EXPECT_PARSE_ERROR(g, "n_embd (32) is not divisible by n_head (5)");
}

TEST(ConfigErrors, UnknownModelTypeListsSupportedTypes) {
  json j = test::llama_bias_config_json();
  j["model_type"] = "falcon";
  EXPECT_PARSE_ERROR(j, "model_type \"falcon\" is not supported");
  EXPECT_PARSE_ERROR(j, "llama, mistral, qwen2, gpt2");
}

TEST(ConfigErrors, YarnRopeScalingIsUnsupported) {
  json j = test::llama3_config_json();
  j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}, {"original_max_position_embeddings", 32}};
  EXPECT_PARSE_ERROR(j, "rope scaling type \"yarn\" is not supported");
  // The same through transformers 5's key.
  j.erase("rope_scaling");
  j["rope_parameters"] = {{"rope_type", "yarn"}, {"rope_theta", 10000.0}};
  EXPECT_PARSE_ERROR(j, "\"yarn\" is not supported");
}

TEST(ConfigErrors, ZeroLayersIsRefusedAsAnError) {
  // Must be a user-facing Error for every model type (not an out_of_range).
  json g = test::gpt2_config_json();
  g["n_layer"] = 0;
  EXPECT_PARSE_ERROR(g, "no layers");
  json l = test::llama_bias_config_json();
  l["num_hidden_layers"] = 0;
  EXPECT_PARSE_ERROR(l, "no layers");
}

TEST(ConfigErrors, NonIntegerTokenIdNamesTheKey) {
  json j = test::llama_bias_config_json();
  j["eos_token_id"] = "</s>";
  EXPECT_PARSE_ERROR(j, "eos_token_id");
}

TEST(Config, EosTokenIdMayBeAList) {
  json j = test::llama3_config_json();
  j["eos_token_id"] = {128001, 128008, 128009};  // Llama-3 instruct style
  j["vocab_size"] = 128256;
  const ModelConfig c = parse_hf_config(j, "config.json");
  EXPECT_EQ(c.eos_token_ids, (std::vector<int32_t>{128001, 128008, 128009}));
  EXPECT_EQ(to_hf_config(c)["eos_token_id"], j["eos_token_id"]);
  j["eos_token_id"] = 7;
  EXPECT_EQ(parse_hf_config(j, "config.json").eos_token_ids, (std::vector<int32_t>{7}));
}

void expect_same_config(const ModelConfig& a, const ModelConfig& b) {
  EXPECT_EQ(a.model_type, b.model_type);
  EXPECT_EQ(a.arch, b.arch);
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  EXPECT_EQ(a.hidden_size, b.hidden_size);
  EXPECT_EQ(a.head_dim, b.head_dim);
  EXPECT_EQ(a.max_positions, b.max_positions);
  ASSERT_EQ(a.num_layers(), b.num_layers());
  for (size_t i = 0; i < a.layers.size(); ++i) {
    EXPECT_EQ(a.layers[i].num_heads, b.layers[i].num_heads);
    EXPECT_EQ(a.layers[i].num_kv_heads, b.layers[i].num_kv_heads);
    EXPECT_EQ(a.layers[i].intermediate_size, b.layers[i].intermediate_size);
  }
  EXPECT_EQ(a.norm_eps, b.norm_eps);
  EXPECT_EQ(a.rope_theta, b.rope_theta);
  EXPECT_EQ(a.rope_scaling.type, b.rope_scaling.type);
  EXPECT_EQ(a.rope_scaling.factor, b.rope_scaling.factor);
  EXPECT_EQ(a.rope_scaling.low_freq_factor, b.rope_scaling.low_freq_factor);
  EXPECT_EQ(a.rope_scaling.high_freq_factor, b.rope_scaling.high_freq_factor);
  EXPECT_EQ(a.rope_scaling.original_max_positions, b.rope_scaling.original_max_positions);
  EXPECT_EQ(a.sliding_window, b.sliding_window);
  EXPECT_EQ(a.tie_word_embeddings, b.tie_word_embeddings);
  EXPECT_EQ(a.qkv_bias, b.qkv_bias);
  EXPECT_EQ(a.o_bias, b.o_bias);
  EXPECT_EQ(a.mlp_bias, b.mlp_bias);
  EXPECT_EQ(a.hidden_act, b.hidden_act);
  EXPECT_EQ(a.bos_token_id, b.bos_token_id);
  EXPECT_EQ(a.eos_token_ids, b.eos_token_ids);
}

TEST(ConfigRoundTrip, Llama) {
  const ModelConfig c = parse_hf_config(test::llama3_config_json(), "config.json");
  const json out = to_hf_config(c);
  expect_same_config(parse_hf_config(out, "round trip"), c);
  EXPECT_EQ(out["architectures"][0], "LlamaForCausalLM");
  EXPECT_EQ(out["head_dim"], 12);
  // Fixed point: writing what was read back gives the same JSON.
  EXPECT_EQ(to_hf_config(parse_hf_config(out, "round trip")), out);
}

TEST(ConfigRoundTrip, Gpt2) {
  const ModelConfig c = parse_hf_config(test::gpt2_config_json(), "config.json");
  const json out = to_hf_config(c);
  EXPECT_EQ(out["model_type"], "gpt2");
  EXPECT_FALSE(out.contains("hidden_size")) << "GPT-2 keys, not Llama keys";
  expect_same_config(parse_hf_config(out, "round trip"), c);
}

TEST(ConfigRoundTrip, OtherLlamaFamilyVariants) {
  json qwen_sw = test::qwen2_config_json();
  qwen_sw["use_sliding_window"] = true;  // the window must survive a save
  for (const json& j : {test::qwen2_config_json(), qwen_sw, test::mistral_config_json(), test::llama_bias_config_json()}) {
    SCOPED_TRACE(j.dump());
    const ModelConfig c = parse_hf_config(j, "config.json");
    expect_same_config(parse_hf_config(to_hf_config(c), "round trip"), c);
  }
  EXPECT_EQ(parse_hf_config(qwen_sw, "config.json").sliding_window, 4);
}

TEST(ConfigParameterCount, EqualsLoadedModelAndStoredTensors) {
  for (const json& j : {test::gpt2_config_json(), test::qwen2_config_json(), test::llama3_config_json(),
                        test::mistral_config_json(), test::llama_bias_config_json()}) {
    const ModelConfig c = parse_hf_config(j, "config.json");
    SCOPED_TRACE(c.model_type);
    const auto tensors = test::random_hf_tensors(c, 7);
    int64_t stored = 0;  // independent count: what an HF save holds (tied head once)
    for (const auto& [name, t] : tensors) stored += t.numel();
    const std::string dir = test::make_temp_dir() + "/model";
    test::write_hf_checkpoint(dir, j, tensors);
    const Model m = load_model(dir);
    EXPECT_EQ(c.parameter_count(), stored);
    EXPECT_EQ(m.parameter_count(), stored);
  }
}

}  // namespace
}  // namespace slmkit
