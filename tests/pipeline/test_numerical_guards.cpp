// Numerical guards of quantization (reliability.md §4, §6.3-6.4): an indefinite
// Hessian is an error naming the module, or with rtn_fallback a recorded RTN
// fallback; damping never changes H; an fp16 scale overflow names the tensor,
// the group and the row.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include "eval/perplexity.h"
#include "io/mapped_file.h"
#include "linalg/damped_hessian.h"
#include "model/checkpoint.h"
#include "model/quantized_weights.h"
#include "pipeline/calibration.h"
#include "pipeline/quantize_model.h"
#include "quantize/rtn.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace slmkit {
namespace {

using test::error_of;

TEST(DampedHessian, IndefiniteWithoutRetriesIsNotPositiveDefinite) {
  const at::Tensor h = at::tensor({1.0, 2.0, 2.0, 1.0}, at::kDouble).reshape({2, 2});  // eigenvalues 3, -1
  EXPECT_THROW(damped_inverse_factor(h, 0.01, 0), NotPositiveDefinite);
}

TEST(DampedHessian, RetriesRaiseDampingUntilItWorksAndRecordIt) {
  // Eigenvalues 3 and -2, mean diagonal 0.5.
  const at::Tensor h = at::tensor({0.5, 2.5, 2.5, 0.5}, at::kDouble).reshape({2, 2});
  const at::Tensor before = h.clone();
  const InverseFactor f = damped_inverse_factor(h, 0.01, 8);
  // λ = 0.005, 0.05 and 0.5 leave a negative eigenvalue; 5 is the first that works.
  EXPECT_EQ(f.retries, 3);
  EXPECT_NEAR(f.damp, 5.0, 1e-12);
  EXPECT_TRUE(at::equal(h, before)) << "damping must not modify the caller's Hessian";
  // UᵀU = (H + λI)⁻¹.
  const at::Tensor damped_inverse = at::inverse(h + f.damp * at::eye(2, at::kDouble));
  const at::Tensor u = f.upper.to(at::kDouble);
  EXPECT_TRUE(at::allclose(u.t().matmul(u), damped_inverse, 1e-5, 1e-6));
}

TEST(PackGptq, Fp16ScaleOverflowNamesGroupAndRow) {
  at::Tensor w = at::zeros({4, 64}, at::kFloat);
  w[2].narrow(0, 32, 32).uniform_(-3e6, 3e6);  // row 2, group 1: scale ~4e5 > 65504
  const std::string msg = error_of([&] { pack_gptq(quantize_rtn(w, QuantGrid{4, 32, false})); });
  EXPECT_NE(msg.find("the scale of group 1 of output row 2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("finite in float16 (|scale| <= 65504)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("(1 group(s) overflow)"), std::string::npos) << msg;
}

const std::string kModel = "models/stories260k";

at::Tensor windows() {
  const auto tok = load_tokenizer(test::data_path(kModel));
  const auto tokens = tokenize_for_perplexity(read_text_file(test::data_path("text/wikitext-2/wiki.valid.tokens")),
                                              *tok, PplProtocol::kGPTQ);
  return draw_calibration_windows(tokens, 4, 64, 0);
}

// Every token embeds to the same vector, so block 0's q/k/v input statistics are
// H = n·x·xᵀ, of rank 1: with no damping allowed the factorization fails.
Model model_with_rank_one_inputs() {
  Model m = load_model(test::data_path(kModel));
  c10::InferenceMode guard;
  at::Tensor emb = m.tensors.at("model.embed_tokens.weight");
  emb.copy_(emb[5].unsqueeze(0).expand_as(emb));
  return m;
}

QuantizeRecipe no_damping_recipe() {
  QuantizeRecipe r;
  r.method = "gptq";
  r.gptq.grid = QuantGrid{4, 32, false};
  r.gptq.percdamp = 0;
  r.gptq.max_damp_retries = 0;
  return r;
}

TEST(QuantizeModelGuards, CholeskyFailureNamesTheModuleAndSuggestsTheFallback) {
  Model m = model_with_rank_one_inputs();
  const std::string msg = error_of([&] { quantize_model(m, windows(), no_damping_recipe()); });
  EXPECT_NE(msg.find("block 0, tensor model.layers.0.self_attn.q_proj: "), std::string::npos) << msg;
  EXPECT_NE(msg.find("not positive-definite"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--fallback rtn"), std::string::npos) << msg;
}

TEST(QuantizeModelGuards, RtnFallbackIsUsedAndRecordedPerModule) {
  const Model original = model_with_rank_one_inputs();
  Model m = model_with_rank_one_inputs();
  QuantizeRecipe r = no_damping_recipe();
  r.rtn_fallback = true;
  const QuantizeSummary s = quantize_model(m, windows(), r);
  ASSERT_FALSE(s.tensors.empty());
  const TensorReport& q = s.tensors.front();
  ASSERT_EQ(q.name, "model.layers.0.self_attn.q_proj");
  EXPECT_TRUE(q.rtn_fallback);
  EXPECT_EQ(q.damp, 0.0);
  // The module holds exactly RTN's result on its original weights.
  const QuantizedWeights expected =
      pack_gptq(quantize_rtn(original.linear(q.name).dense_weight().to(at::kFloat), r.gptq.grid));
  const auto& got = std::get<QuantizedWeights>(m.linear(q.name).weights);
  EXPECT_TRUE(at::equal(got.qweight, expected.qweight));
  EXPECT_TRUE(at::equal(got.scales, expected.scales));
  EXPECT_TRUE(at::equal(got.qzeros, expected.qzeros));
  EXPECT_NE(describe_recipe(r).find("fallback=rtn"), std::string::npos) << "a resume must not mix the two modes";
}

TEST(QuantizeModelGuards, ScaleOverflowInAModelNamesBlockAndTensor) {
  Model m = load_model(test::data_path(kModel));
  {
    c10::InferenceMode guard;
    at::Tensor w = m.linear("model.layers.1.mlp.up_proj").dense_weight();
    w[3].narrow(0, 0, 32).uniform_(-3e6, 3e6);
  }
  QuantizeRecipe r;
  r.method = "rtn";
  r.gptq.grid = QuantGrid{4, 32, false};
  const std::string msg = error_of([&] { quantize_model(m, windows(), r); });
  EXPECT_NE(msg.find("block 1, tensor model.layers.1.mlp.up_proj: pack_gptq: "), std::string::npos) << msg;
  EXPECT_NE(msg.find("the scale of group 0 of output row 3"), std::string::npos) << msg;
}

}  // namespace
}  // namespace slmkit
