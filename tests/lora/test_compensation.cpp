// Low-rank compensation of quantization error: optimality of the whitened
// truncation (Eckart–Young in the whitened space), that whitening beats a
// plain SVD of the error on the output metric, dead inputs, and the
// whole-model pass on stories260k (every tensor's error drops; held-out
// perplexity improves with the adapter attached).
#include <cmath>

#include <gtest/gtest.h>

#include "eval/perplexity.h"
#include "io/mapped_file.h"
#include "lowrank/error_compensation.h"
#include "model/checkpoint.h"
#include "pipeline/calibration.h"
#include "pipeline/compensate_model.h"
#include "pipeline/lora_adapter.h"
#include "pipeline/quantize_model.h"
#include "quantize/rtn.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace slmkit {
namespace {

// Tokens [n, in] with correlated channels and very different scales (what makes
// whitening matter), plus W [out, in] and its 3-bit RTN form.
struct Problem {
  at::Tensor x, w, w_hat, gram;
};

Problem make_problem(int64_t out, int64_t in, int64_t n, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  Problem p;
  const at::Tensor mix = at::randn({in, in}, gen, at::kDouble) / std::sqrt(static_cast<double>(in));
  const at::Tensor scales = at::exp(at::randn({in}, gen, at::kDouble) * 1.5);
  p.x = at::mm(at::randn({n, in}, gen, at::kDouble), mix) * scales;
  p.w = at::randn({out, in}, gen, at::kFloat) * 0.1;
  p.w_hat = pack_gptq(quantize_rtn(p.w, QuantGrid{3, 16, false})).dequantize(at::kFloat);
  p.gram = at::mm(p.x.t(), p.x);
  return p;
}

double output_error(const Problem& p, const at::Tensor& approx) {
  const at::Tensor x = p.x;
  return (at::mm(x, (p.w.to(at::kDouble) - approx.to(at::kDouble)).t())).pow(2).sum().item<double>() /
         at::mm(x, p.w.to(at::kDouble).t()).pow(2).sum().item<double>();
}

TEST(Compensation, WhitenedTruncationIsOptimalForTheOutputError) {
  const Problem p = make_problem(40, 32, 400, 1);
  CompensationConfig cfg;
  cfg.whitening.percdamp = 0;  // exact G: Eckart–Young holds in the whitened space
  cfg.rank = 6;
  CompensationStats st;
  const LoraDelta d = compensate_error(p.w, p.w_hat, p.gram, cfg, &st);
  ASSERT_EQ(d.a.sizes(), (at::IntArrayRef{6, 32}));
  ASSERT_EQ(d.b.sizes(), (at::IntArrayRef{40, 6}));
  EXPECT_EQ(d.scaling, 1.0);
  const at::Tensor corrected = p.w_hat.to(at::kDouble) + at::mm(d.b.to(at::kDouble), d.a.to(at::kDouble));
  // The stats are the real output errors on the calibration tokens.
  EXPECT_NEAR(st.error_before, output_error(p, p.w_hat), 1e-9 * st.error_before);
  EXPECT_NEAR(st.error_after, output_error(p, corrected), 1e-6 * st.error_before);
  // Eckart–Young: what is left is exactly the tail of the whitened spectrum.
  const at::Tensor l = at::linalg_cholesky(p.gram);
  const at::Tensor sigma = at::linalg_svdvals(at::mm((p.w - p.w_hat).to(at::kDouble), l));
  const double energy = at::mm(p.w.to(at::kDouble), l).pow(2).sum().item<double>();
  const double tail = sigma.narrow(0, 6, sigma.size(0) - 6).pow(2).sum().item<double>() / energy;
  EXPECT_NEAR(st.error_after, tail, 1e-6 * st.error_before);
  EXPECT_LT(st.error_after, 0.7 * st.error_before);

  // A plain SVD of W − Ŵ at the same rank fits the weights, not the outputs: worse here.
  at::Tensor u, s, vt;
  std::tie(u, s, vt) = at::linalg_svd((p.w - p.w_hat).to(at::kDouble), false);
  const at::Tensor plain = p.w_hat.to(at::kDouble) +
                           at::mm(u.narrow(1, 0, 6) * s.narrow(0, 0, 6), vt.narrow(0, 0, 6));
  EXPECT_LT(st.error_after, 0.9 * output_error(p, plain));

  // Full rank removes the error entirely.
  cfg.rank = 32;
  const LoraDelta full = compensate_error(p.w, p.w_hat, p.gram, cfg, &st);
  EXPECT_LT(st.error_after, 1e-9);
  EXPECT_EQ(full.rank(), 32);
}

TEST(Compensation, InputsNeverSeenGetNoCorrection) {
  Problem p = make_problem(24, 20, 300, 2);
  p.x.select(1, 5).zero_();
  p.x.select(1, 11).zero_();
  p.gram = at::mm(p.x.t(), p.x);
  CompensationStats st;
  CompensationConfig cfg;
  cfg.rank = 4;
  const LoraDelta d = compensate_error(p.w, p.w_hat, p.gram, cfg, &st);
  EXPECT_EQ(st.dead_inputs, 2);
  EXPECT_LE(d.a.select(1, 5).abs().max().item<double>(), 1e-7);
  EXPECT_LE(d.a.select(1, 11).abs().max().item<double>(), 1e-7);
  EXPECT_LT(st.error_after, st.error_before);
}

double mean_nll(const Model& m, const std::vector<int32_t>& tokens) {
  PerplexityConfig cfg;
  cfg.context = 128;
  cfg.max_windows = 24;
  return evaluate_perplexity(m, tokens, 1, cfg).mean_nll;
}

TEST(Compensation, WholeModelAdapterLowersEveryTensorsErrorAndTheHeldOutLoss) {
  const std::string dir = test::data_path("models/stories260k");
  Model base = load_model(dir);
  Model quantized = load_model(dir);
  const auto tok = load_tokenizer(dir);
  const std::vector<int32_t> calib_tokens =
      tokenize_for_perplexity(read_text_file(test::data_path("text/wikitext-2/wiki.valid.tokens")), *tok,
                              PplProtocol::kGPTQ);
  const at::Tensor windows = draw_calibration_windows(calib_tokens, 16, 128, 0);
  QuantizeRecipe q;
  q.method = "rtn";
  q.gptq.grid = QuantGrid{3, 32, false};
  quantize_model(quantized, windows, q);

  CompensateRecipe recipe;
  recipe.method.rank = 8;
  const CompensateSummary s = compensate_model(quantized, base, windows, recipe);
  ASSERT_EQ(s.tensors.size(), 5u * 7u);
  for (const auto& r : s.tensors) {
    EXPECT_EQ(r.form, "quantized") << r.name;
    EXPECT_LT(r.stats.error_after, 0.75 * r.stats.error_before) << r.name;  // worst observed: 0.58
    EXPECT_TRUE(quantized.linear(r.name).adapter) << r.name;
  }
  EXPECT_EQ(s.adapter.modules.size(), 35u);
  EXPECT_EQ(s.adapter_parameters, s.adapter.parameter_count());
  EXPECT_NEAR(s.extra_bits_per_weight, 16.0 * s.adapter_parameters / s.compensated_weights, 1e-12);

  // Held-out text (WikiText-2 test, not the calibration text): the adapter helps.
  const std::vector<int32_t> test_tokens = tokenize_for_perplexity(
      read_text_file(test::data_path("text/wikitext-2/wiki.test.raw")), *tok, PplProtocol::kGPTQ);
  const double with_adapter = mean_nll(quantized, test_tokens);
  detach_lora_adapters(quantized);
  const double without = mean_nll(quantized, test_tokens);
  const double dense = mean_nll(base, test_tokens);
  // Observed mean NLL 5.140 without, 4.884 with, 4.809 dense: at least half of the
  // quantization's loss must come back.
  EXPECT_GT(without, dense);
  EXPECT_LT(with_adapter - dense, 0.5 * (without - dense)) << without << " -> " << with_adapter << " (dense " << dense << ")";

  // Saved and loaded back as a PEFT adapter, it does the same.
  const std::string out = test::make_temp_dir();
  save_lora_adapter(out, s.adapter, at::kFloat);
  attach_lora_adapter(quantized, load_lora_adapter(out, quantized));
  EXPECT_NEAR(mean_nll(quantized, test_tokens), with_adapter, 1e-9);
}

}  // namespace
}  // namespace slmkit
