// The real stories260K model: parity with the published float64 reference,
// the llama2.c copy, our independent reference forward, and the KV cache.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include "io/json.h"
#include "model/checkpoint.h"
#include "model/forward.h"
#include "model/generate.h"
#include "model/reference_forward.h"
#include "model/tensor_adapter.h"
#include "test_util.h"

namespace slmkit {
namespace {

const std::string kHF = "models/stories260k";
const std::string kLlama2c = "models/stories260k-llama2c/stories260K.bin";

nlohmann::json reference() { return read_json_file(test::data_path(kHF + "/reference_greedy.json")); }

at::Tensor tokens_tensor(const std::vector<int64_t>& ids) { return at::tensor(ids, at::kLong).view({1, -1}); }

TEST(Stories260k, FirstLogitsMatchReferenceWithin1e4) {
  c10::InferenceMode guard;
  const Model m = load_model(test::data_path(kHF));
  const auto ref = reference();
  std::vector<int64_t> seq = {1};
  for (int i = 0; i < 5; ++i) seq.push_back(ref["greedy_token_ids"][i].get<int64_t>());
  const at::Tensor logits = forward(m, tokens_tensor(seq))[0];
  for (int j = 0; j < 8; ++j) {
    EXPECT_NEAR(logits[0][j].item<double>(), ref["logits_pos0_first8"][j].get<double>(), 1e-4) << "pos 0 logit " << j;
    EXPECT_NEAR(logits[5][j].item<double>(), ref["logits_pos5_first8"][j].get<double>(), 1e-4) << "pos 5 logit " << j;
  }
  EXPECT_EQ(logits[0].argmax().item<int64_t>(), ref["logits_pos0_argmax"].get<int64_t>());
}

TEST(Stories260k, GreedyDecodingReproducesReferenceTokens) {
  const Model m = load_model(test::data_path(kHF));
  const auto ref = reference();
  SamplingConfig s;
  s.max_new_tokens = ref["greedy_steps"].get<int64_t>();
  s.stop_at_eos = false;
  const std::vector<int32_t> out = generate(m, {1}, s, nullptr);
  ASSERT_EQ(out.size(), ref["greedy_token_ids"].size());
  for (size_t i = 0; i < out.size(); ++i) EXPECT_EQ(out[i], ref["greedy_token_ids"][i].get<int32_t>()) << "step " << i;
}

TEST(Stories260k, Llama2cCheckpointGivesIdenticalLogits) {
  c10::InferenceMode guard;
  const Model hf = load_model(test::data_path(kHF));
  const Model l2c = load_model(test::data_path(kLlama2c));
  const auto ref = reference();
  std::vector<int64_t> seq = {1};
  for (int i = 0; i < 40; ++i) seq.push_back(ref["greedy_token_ids"][i].get<int64_t>());
  const at::Tensor a = forward(hf, tokens_tensor(seq)), b = forward(l2c, tokens_tensor(seq));
  EXPECT_EQ((a - b).abs().max().item<float>(), 0.0f) << "the two files hold the same weights";
}

TEST(Stories260k, MatchesIndependentFloat64Reference) {
  c10::InferenceMode guard;
  const RawCheckpoint raw = read_checkpoint(test::data_path(kHF));
  std::map<std::string, at::Tensor> w;
  for (const auto& [name, v] : raw.tensors.tensors) w[name] = to_torch(v, name);
  const Model m = load_model(test::data_path(kHF));
  const at::Tensor seq = at::randint(0, 512, {100}, at::kLong);
  const at::Tensor ref = test::reference_llama_logits(raw.config, w, seq);
  const at::Tensor ours = forward(m, seq.view({1, -1}))[0].to(at::kDouble);
  EXPECT_LT((ours - ref).abs().max().item<double>(), 1e-4);
}

TEST(Stories260k, KVCacheDecodingMatchesFullForward) {
  c10::InferenceMode guard;
  const Model m = load_model(test::data_path(kHF));
  const at::Tensor seq = at::randint(0, 512, {1, 48}, at::kLong);
  const at::Tensor full = forward(m, seq);
  KVCache cache = make_kv_cache(m, 1, 64);
  std::vector<at::Tensor> steps;
  steps.push_back(forward(m, seq.narrow(1, 0, 20), &cache));  // a prefill chunk, then one token at a time
  for (int64_t t = 20; t < 48; ++t) steps.push_back(forward(m, seq.narrow(1, t, 1), &cache));
  EXPECT_EQ(cache.length, 48);
  // Same math, different summation order: fp32 rounding relative to the logit scale.
  EXPECT_LT((at::cat(steps, 1) - full).abs().max().item<float>(), 1e-5 * full.abs().max().item<float>());
}

TEST(Stories260k, BatchedSequencesMatchSingleSequences) {
  c10::InferenceMode guard;
  const Model m = load_model(test::data_path(kHF));
  const at::Tensor seqs = at::randint(0, 512, {3, 32}, at::kLong);
  const at::Tensor batched = forward(m, seqs);
  // Batching changes the BLAS blocking, hence fp32 summation order: compare relative to the logit scale.
  for (int64_t b = 0; b < 3; ++b)
    EXPECT_LT((batched[b] - forward(m, seqs.narrow(0, b, 1))[0]).abs().max().item<float>(),
              1e-5 * batched[b].abs().max().item<float>());
}

TEST(Stories260k, Bfloat16ForwardStaysCloseToFloat32) {
  c10::InferenceMode guard;
  const Model f32 = load_model(test::data_path(kHF));
  LoadOptions opt;
  opt.dtype = at::kBFloat16;
  const Model bf16 = load_model(test::data_path(kHF), opt);
  EXPECT_EQ(bf16.linear("model.layers.0.mlp.up_proj").dense_weight().scalar_type(), at::kBFloat16);
  const at::Tensor seq = at::randint(0, 512, {1, 64}, at::kLong);
  const at::Tensor a = at::log_softmax(forward(f32, seq), -1), b = at::log_softmax(forward(bf16, seq), -1);
  // bf16 keeps 8 mantissa bits: predictions agree, log-probs within a few hundredths.
  EXPECT_GT((a.argmax(-1) == b.argmax(-1)).to(at::kFloat).mean().item<float>(), 0.9f);
  EXPECT_LT((a.exp() * (a - b)).sum(-1).mean().item<float>(), 0.01f) << "mean KL(f32 || bf16)";
}

TEST(Stories260k, SaveAndReloadGivesIdenticalLogits) {
  c10::InferenceMode guard;
  const Model m = load_model(test::data_path(kLlama2c));
  const std::string dir = test::make_temp_dir() + "/saved";
  save_model(m, dir);
  const Model back = load_model(dir);
  EXPECT_EQ(back.parameter_count(), m.parameter_count());
  const at::Tensor seq = at::randint(0, 512, {1, 30}, at::kLong);
  EXPECT_TRUE(at::equal(forward(m, seq), forward(back, seq)));
}

TEST(Stories260k, ParameterCountCountsTiedEmbeddingOnce) {
  const Model m = load_model(test::data_path(kHF));
  // 512·64 embeddings + 5·(2·64 + 64·64 + 2·64·32 + 64·64 + 3·64·172) + 64 final norm.
  const int64_t per_layer = 2 * 64 + 64 * 64 + 2 * 64 * 32 + 64 * 64 + 3 * 64 * 172;
  EXPECT_EQ(m.parameter_count(), 512 * 64 + 5 * per_layer + 64);
  EXPECT_EQ(m.parameter_count(), m.config.parameter_count());
  EXPECT_EQ(m.block_parameter_count(), 5 * per_layer);
}

}  // namespace
}  // namespace slmkit
