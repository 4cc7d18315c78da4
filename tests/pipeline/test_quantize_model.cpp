// Whole-model quantization on the real stories260k model with a small
// calibration set: every block linear ends up packed, errors rank as the
// methods promise, and the saved checkpoint reloads to the same logits.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include "eval/kl_divergence.h"
#include "io/mapped_file.h"
#include "model/checkpoint.h"
#include "model/forward.h"
#include "pipeline/calibration.h"
#include "pipeline/quantize_model.h"
#include "test_util.h"

namespace slmkit {
namespace {

const std::string kModel = "models/stories260k";

at::Tensor calibration_windows() {
  const auto tok = load_tokenizer(test::data_path(kModel));
  const auto tokens = tokenize_for_perplexity(read_text_file(test::data_path("text/wikitext-2/wiki.valid.tokens")),
                                              *tok, PplProtocol::kGPTQ);
  return draw_calibration_windows(tokens, 16, 128, 0);
}

std::vector<int32_t> eval_tokens() {
  const auto tok = load_tokenizer(test::data_path(kModel));
  const std::string text = read_text_file(test::data_path("text/wikitext-2/wiki.test.raw")).substr(0, 60000);
  return tokenize_for_perplexity(text, *tok, PplProtocol::kGPTQ);
}

struct Outcome {
  QuantizeSummary summary;
  double mean_kl;
};

Outcome run(const std::string& method, int bits, std::vector<QuantOverride> overrides = {}) {
  const Model base = load_model(test::data_path(kModel));
  Model m = load_model(test::data_path(kModel));
  QuantizeRecipe r;
  r.method = method;
  r.gptq.grid = QuantGrid{bits, 32, false};
  r.overrides = std::move(overrides);
  Outcome o;
  o.summary = quantize_model(m, calibration_windows(), r);
  PerplexityConfig cfg;
  cfg.context = 256;
  cfg.max_windows = 16;
  o.mean_kl = kl_divergence(base, m, eval_tokens(), 1, cfg).mean_kl;
  return o;
}

TEST(QuantizeModel, EveryBlockLinearIsPackedAndErrorsAreSmall) {
  const Outcome o = run("rtn", 4);
  ASSERT_EQ(o.summary.tensors.size(), 5u * 7u);
  for (const TensorReport& t : o.summary.tensors) {
    EXPECT_FALSE(t.kept_dense);
    EXPECT_GT(t.relative_error, 0.0) << t.name;
    EXPECT_LT(t.relative_error, 0.05) << t.name << ": 4-bit g32 should lose little";
  }
  // 4 bits + fp16 scale and 4-bit zero per 32 weights + g_idx: about 4.7-5.1 bits.
  EXPECT_GT(o.summary.bits_per_weight, 4.5);
  EXPECT_LT(o.summary.bits_per_weight, 5.2);
  EXPECT_LT(o.summary.model_bytes_after, o.summary.model_bytes_before / 2);
}

TEST(QuantizeModel, GptqAndAwqBeatRtnAtThreeBits) {
  const double rtn = run("rtn", 3).mean_kl, gptq = run("gptq", 3).mean_kl, awq = run("awq", 3).mean_kl;
  EXPECT_GT(rtn, 0.0);
  EXPECT_LT(gptq, rtn);
  EXPECT_LT(awq, rtn);
}

TEST(QuantizeModel, OverridesKeepTensorsDenseOrChangeBits) {
  const Outcome o = run("gptq", 4, {QuantOverride{R"(mlp\.down_proj)", QuantGrid{8, 32, false}, false},
                                    QuantOverride{R"(layers\.0\.self_attn\.q_proj)", QuantGrid{}, true}});
  for (const TensorReport& t : o.summary.tensors) {
    if (t.name == "model.layers.0.self_attn.q_proj") EXPECT_TRUE(t.kept_dense);
    else if (t.name.find("down_proj") != std::string::npos) EXPECT_EQ(t.grid.bits, 8) << t.name;
    else EXPECT_EQ(t.grid.bits, 4) << t.name;
  }
}

TEST(QuantizeModel, SavedCheckpointReloadsToTheSameLogits) {
  c10::InferenceMode guard;
  Model m = load_model(test::data_path(kModel));
  QuantizeRecipe r;
  r.gptq.grid = QuantGrid{4, 32, false};
  r.gptq.act_order = true;
  quantize_model(m, calibration_windows(), r);
  const std::string dir = test::make_temp_dir() + "/q";
  save_model(m, dir);
  const Model back = load_model(dir);
  const at::Tensor seq = at::randint(0, 512, {1, 64}, at::kLong);
  EXPECT_TRUE(at::equal(forward(m, seq), forward(back, seq)));
}

}  // namespace
}  // namespace slmkit
