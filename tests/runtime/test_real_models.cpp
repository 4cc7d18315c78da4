// The native runtime against the LibTorch reference forward on the shared
// models (stories260k in both formats, mixed-en-13m), dense and as 4-bit g32
// GPTQ copies: logits over a token sequence and greedy generation.
//
// Tolerances: dense weights run in fp32 in both engines (differences are
// summation order, ~1e-6 of the logit range). Quantized linears in the runtime
// quantize their activations to int8 per block of 32 (llama.cpp's Q8_0 rule;
// runtime/linear_kernels.h), the reference multiplies fp32 activations by the
// dequantized weights, so 4-bit logits differ by that rounding, which must stay
// small against the 4-bit weight error itself.
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include <map>

#include "core/sampling.h"
#include "model/checkpoint.h"
#include "model/generate.h"
#include "runtime/generation.h"
#include "runtime/runtime_test_util.h"
#include "runtime/session.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace slmkit {
namespace {

const char* kStories = "models/stories260k";
const char* kStoriesLlama2c = "models/stories260k-llama2c/stories260K.bin";
const char* kMixed = "models/mixed-en-13m";

// 4-bit copies are made once per test binary run.
const std::string& rtn4_copy(const std::string& rel) {
  static std::map<std::string, std::string> made;
  auto it = made.find(rel);
  if (it == made.end()) it = made.emplace(rel, test::write_rtn_copy(test::data_path(rel), 4, 32)).first;
  return it->second;
}

std::vector<int32_t> greedy_torch(const std::string& path, const std::vector<int32_t>& prompt, int64_t n) {
  const Model m = load_model(path);
  SamplingConfig s;
  s.max_new_tokens = n;
  s.stop_at_eos = false;
  return generate(m, prompt, s, nullptr);
}

std::vector<int32_t> greedy_runtime(const std::string& path, const std::vector<int32_t>& prompt, int64_t n,
                                    runtime::KvDType kv = runtime::KvDType::kF32) {
  const runtime::DecoderModel m = runtime::load_decoder_model(path);
  SamplingConfig s;
  s.max_new_tokens = n;
  s.stop_at_eos = false;
  runtime::SessionOptions o;
  o.kv_dtype = kv;
  o.capacity = runtime::generation_capacity(m.config, static_cast<int64_t>(prompt.size()), s);
  runtime::Session session(m, o);
  return runtime::generate(session, prompt, s, nullptr);
}

std::vector<int32_t> mixed_prompt() {
  const auto tok = load_tokenizer(test::data_path(kMixed));
  return tok->encode("The history of the city begins in the year", true);
}

void expect_logits_close(const std::string& path, const std::vector<int32_t>& tokens, double tolerance) {
  const Model ref = load_model(path);
  const runtime::DecoderModel rt = runtime::load_decoder_model(path);
  const at::Tensor want = test::torch_logits(ref, tokens);
  const at::Tensor got = test::runtime_logits(rt, tokens);
  EXPECT_LT(test::relative_error(got, want), tolerance) << path;
  EXPECT_GT(want.abs().max().item<double>(), 1.0);  // not trivially equal (e.g. all zero)
  EXPECT_TRUE(at::equal(got.argmax(-1), want.argmax(-1))) << path;  // top-1 at every position
}

// A 4-bit copy: the runtime's int8 activation rounding must stay well below
// the error of the 4-bit weights themselves (quantized vs dense reference),
// and the top-1 token must agree with the reference at every position.
void expect_quantized_logits_close(const std::string& dense, const std::string& quantized,
                                   const std::vector<int32_t>& tokens) {
  const at::Tensor ref_q = test::torch_logits(load_model(quantized), tokens);
  const at::Tensor ref_dense = test::torch_logits(load_model(dense), tokens);
  const at::Tensor got = test::runtime_logits(runtime::load_decoder_model(quantized), tokens);
  const double activation_rounding = test::relative_error(got, ref_q);
  const double weight_rounding = test::relative_error(ref_q, ref_dense);
  EXPECT_GT(activation_rounding, 0.0);
  EXPECT_LT(activation_rounding, 0.25 * weight_rounding) << activation_rounding << " vs " << weight_rounding;
  EXPECT_TRUE(at::equal(got.argmax(-1), ref_q.argmax(-1))) << quantized;
}

TEST(RuntimeStories260k, DenseLogitsMatchTheReferenceForward) {
  expect_logits_close(test::data_path(kStories), test::random_tokens(512, 48, 1), 1e-5);
}

TEST(RuntimeStories260k, Llama2cFileGivesTheSameLogitsAsTheHfDirectory) {
  const std::vector<int32_t> tokens = test::random_tokens(512, 32, 2);
  const at::Tensor hf = test::runtime_logits(runtime::load_decoder_model(test::data_path(kStories)), tokens);
  const at::Tensor bin = test::runtime_logits(runtime::load_decoder_model(test::data_path(kStoriesLlama2c)), tokens);
  EXPECT_LT(test::relative_error(bin, hf), 1e-6);
}

TEST(RuntimeStories260k, GreedyTokensMatchTheReferenceAndTheFloat64Oracle) {
  const std::vector<int32_t> want = greedy_torch(test::data_path(kStories), {1}, 64);
  EXPECT_EQ(greedy_runtime(test::data_path(kStories), {1}, 64), want);
  EXPECT_EQ(greedy_runtime(test::data_path(kStoriesLlama2c), {1}, 64), want);
  // reference_greedy.json: the float64 numpy oracle's 64 greedy ids (the start of
  // "Once upon a time, there was a little girl named Lily").
  const std::vector<int32_t> oracle_start = {403, 407, 261, 378, 432, 383, 286, 261, 376, 298};
  EXPECT_EQ(std::vector<int32_t>(want.begin(), want.begin() + 10), oracle_start);
}

TEST(RuntimeStories260k, FourBitLogitsAndGreedyTokensMatchTheReference) {
  const std::string q = rtn4_copy(kStories);
  const runtime::DecoderModel rt = runtime::load_decoder_model(q);
  ASSERT_TRUE(rt.quantized());
  expect_quantized_logits_close(test::data_path(kStories), q, test::random_tokens(512, 48, 3));
  EXPECT_EQ(greedy_runtime(q, {1}, 64), greedy_torch(q, {1}, 64));
}

TEST(RuntimeMixed13m, DenseLogitsMatchTheReferenceForward) {
  expect_logits_close(test::data_path(kMixed), mixed_prompt(), 1e-5);
}

TEST(RuntimeMixed13m, GreedyTokensMatchTheReference) {
  const std::vector<int32_t> prompt = mixed_prompt();
  EXPECT_EQ(greedy_runtime(test::data_path(kMixed), prompt, 48), greedy_torch(test::data_path(kMixed), prompt, 48));
}

TEST(RuntimeMixed13m, FourBitLogitsAndGreedyTokensMatchTheReference) {
  const std::string q = rtn4_copy(kMixed);
  expect_quantized_logits_close(test::data_path(kMixed), q, mixed_prompt());
  const std::vector<int32_t> prompt = mixed_prompt();
  EXPECT_EQ(greedy_runtime(q, prompt, 32), greedy_torch(q, prompt, 32));
}

TEST(RuntimeMixed13m, Fp16KvCacheStaysCloseAndKeepsGreedyTokens) {
  const runtime::DecoderModel rt = runtime::load_decoder_model(test::data_path(kMixed));
  const std::vector<int32_t> tokens = test::random_tokens(32000, 40, 4);
  const at::Tensor f32 = test::runtime_logits(rt, tokens, runtime::KvDType::kF32);
  const at::Tensor f16 = test::runtime_logits(rt, tokens, runtime::KvDType::kF16);
  const double err = test::relative_error(f16, f32);
  EXPECT_GT(err, 0.0);  // the fp16 path really rounds
  EXPECT_LT(err, 5e-3);
  const std::vector<int32_t> prompt = mixed_prompt();
  EXPECT_EQ(greedy_runtime(test::data_path(kMixed), prompt, 32, runtime::KvDType::kF16),
            greedy_runtime(test::data_path(kMixed), prompt, 32, runtime::KvDType::kF32));
}

TEST(RuntimeMixed13m, ChunkedPrefillAndTokenByTokenDecodingAgree) {
  const runtime::DecoderModel rt = runtime::load_decoder_model(test::data_path(kMixed));
  const std::vector<int32_t> tokens = test::random_tokens(32000, 37, 5);
  const at::Tensor whole = test::runtime_logits(rt, tokens, runtime::KvDType::kF32, 256);
  const at::Tensor chunks = test::runtime_logits(rt, tokens, runtime::KvDType::kF32, 8);  // 8+8+8+8+5
  const at::Tensor single = test::runtime_logits(rt, tokens, runtime::KvDType::kF32, 1);  // matvec path
  EXPECT_LT(test::relative_error(chunks, whole), 1e-5);
  EXPECT_LT(test::relative_error(single, whole), 1e-5);
  // forward() returns the last position's logits, as forward_all's last row.
  runtime::SessionOptions o;
  o.capacity = 64;
  runtime::Session s(rt, o);
  const float* last = s.forward(tokens.data(), static_cast<int64_t>(tokens.size()));
  const at::Tensor last_t = at::from_blob(const_cast<float*>(last), {rt.config.vocab_size}, at::kFloat);
  EXPECT_LT(test::relative_error(last_t, whole[whole.size(0) - 1]), 1e-5);  // matvec vs matmul order
  EXPECT_EQ(s.position(), static_cast<int64_t>(tokens.size()));
}

}  // namespace
}  // namespace slmkit
