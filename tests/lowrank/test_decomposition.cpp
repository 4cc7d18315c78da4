// The SVD-family decompositions and the whitening they rest on: exactness at
// full rank, the output-error identities, SVD-LLM's optimality against plain
// SVD and ASVD, and the closed-form refit of B.
#include <cmath>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "linalg/whitening.h"
#include "lowrank/asvd.h"
#include "lowrank/decomposition.h"
#include "lowrank/svd.h"
#include "lowrank/svd_llm.h"
#include "lowrank_test_util.h"
#include "test_util.h"

namespace slmkit {
namespace {

double max_abs(const at::Tensor& t) { return t.abs().max().item<double>(); }

TEST(Whitening, FactorReproducesTheGramMatrixAndRoundTrips) {
  const at::Tensor x = test::correlated_inputs(200, 12, 1);
  const at::Tensor g = test::gram_of(x);
  const WhiteningFactor f = whitening_factor(g.to(at::kFloat));  // float32 statistics, as InputStats keeps them
  ASSERT_EQ(f.retries, 0);
  EXPECT_EQ(f.damp, 0.0);
  EXPECT_EQ(f.dead_inputs, 0);
  const at::Tensor g32 = g.to(at::kFloat).to(at::kDouble);
  EXPECT_LT(max_abs(at::mm(f.lower, f.lower.t()) - g32) / max_abs(g32), 1e-12);
  EXPECT_TRUE(at::equal(f.lower, f.lower.tril())) << "lower triangular";
  const at::Tensor m = test::random_weight(5, 12, 2);
  EXPECT_LT(max_abs(f.unwhiten(f.whiten(m)) - m), 1e-9);
  // ‖M L‖² is the output energy of M on X: the identity every method relies on.
  const double whitened = f.whiten(m).square().sum().item<double>();
  const double direct = at::mm(x, m.t()).square().sum().item<double>();
  EXPECT_NEAR(whitened / direct, 1.0, 1e-6);
}

TEST(Whitening, DeadInputsAndRankDeficientStatisticsStillFactor) {
  // 6 tokens for 10 inputs: XᵀX has rank 6, so plain Cholesky must fail and damping takes over.
  at::Tensor x = test::correlated_inputs(6, 10, 3);
  x.select(1, 4).zero_();  // input 4 is never active
  const WhiteningFactor f = whitening_factor(test::gram_of(x));
  EXPECT_EQ(f.dead_inputs, 1);
  EXPECT_TRUE(f.dead[4].item<bool>());
  EXPECT_GT(f.retries, 0);
  EXPECT_GT(f.damp, 0.0);
  EXPECT_TRUE(at::isfinite(f.lower).all().item<bool>());
  // The dead input stays separate: its row and column of L are zero off the diagonal.
  const at::Tensor row = f.lower.select(0, 4).clone(), col = f.lower.select(1, 4).clone();
  row[4] = 0.0;
  col[4] = 0.0;
  EXPECT_EQ(max_abs(row), 0.0);
  EXPECT_EQ(max_abs(col), 0.0);
}

TEST(Whitening, BrokenStatisticsAreAnError) {
  at::Tensor g = at::eye(4, at::kDouble);
  g[1][1] = NAN;
  EXPECT_NE(test::error_of([&] { whitening_factor(g); }).find("NaN"), std::string::npos);
}

TEST(Decomposition, EveryMethodReconstructsTheWeightAtFullRank) {
  const at::Tensor w = test::random_weight(20, 14, 4);
  const at::Tensor x = test::correlated_inputs(300, 14, 5);
  const at::Tensor abs_mean = x.abs().mean(0);
  for (const Decomposition& d :
       {decompose_svd(w), decompose_asvd(w, abs_mean), decompose_svd_llm(w, test::gram_of(x))}) {
    ASSERT_EQ(d.terms(), 14);
    const LowRankWeights f = truncate(d, 14);
    EXPECT_EQ(f.a.sizes(), at::IntArrayRef({14, 14}));
    EXPECT_EQ(f.b.sizes(), at::IntArrayRef({20, 14}));
    EXPECT_LT(max_abs(at::mm(f.b, f.a) - w), 1e-10);
    // Singular values come sorted.
    EXPECT_TRUE(at::equal(d.sigma, std::get<0>(d.sigma.sort(0, /*descending=*/true))));
  }
}

TEST(Decomposition, PlainSvdTruncationIsTheBestWeightApproximation) {
  const at::Tensor w = test::random_weight(16, 16, 6);
  const Decomposition d = decompose_svd(w);
  const LowRankWeights f = truncate(d, 5);
  // Eckart–Young: ‖W − W_5‖_F² = Σ_{i>5} σ_i².
  const double err = (w - at::mm(f.b, f.a)).square().sum().item<double>();
  EXPECT_NEAR(err / d.sigma.narrow(0, 5, 11).square().sum().item<double>(), 1.0, 1e-10);
}

TEST(Decomposition, OutputErrorsAddUpTermByTermForEveryMethod) {
  const at::Tensor w = test::random_weight(18, 12, 7);
  const at::Tensor x = test::correlated_inputs(400, 12, 8);
  const at::Tensor g = test::gram_of(x);
  for (const Decomposition& d : {decompose_svd(w), decompose_asvd(w, x.abs().mean(0)), decompose_svd_llm(w, g)}) {
    const at::Tensor e = term_output_errors(d, g);
    for (int64_t r : {1, 4, 9}) {
      const LowRankWeights f = truncate(d, r);
      const double measured = test::output_error(x, w, f.b, f.a);
      const double predicted = e.narrow(0, r, 12 - r).sum().item<double>();
      EXPECT_NEAR(measured / predicted, 1.0, 1e-8) << "rank " << r;
      EXPECT_NEAR(relative_output_error(w, at::mm(f.b, f.a), g), measured / output_energy(w, g), 1e-10);
    }
  }
}

TEST(SvdLlm, TruncationErrorEqualsTheTailSingularValues) {
  const at::Tensor w = test::random_weight(24, 16, 9);
  const at::Tensor x = test::correlated_inputs(500, 16, 10);
  SvdLlmStats st;
  const Decomposition d = decompose_svd_llm(w, test::gram_of(x), {}, &st);
  ASSERT_EQ(st.damp, 0.0) << "full-rank statistics factor without damping";
  for (int64_t r = 1; r < 16; ++r) {
    const LowRankWeights f = truncate(d, r);
    const double tail = d.sigma.narrow(0, r, 16 - r).square().sum().item<double>();
    EXPECT_NEAR(test::output_error(x, w, f.b, f.a) / tail, 1.0, 1e-8) << "rank " << r;
  }
}

TEST(SvdLlm, OutputErrorNeverExceedsPlainSvdOrAsvd) {
  // A property over several random problems and every rank: SVD-LLM's truncation
  // is the optimal rank-r output error, so neither baseline can beat it.
  for (uint64_t seed = 20; seed < 24; ++seed) {
    const at::Tensor w = test::random_weight(30, 20, seed);
    const at::Tensor x = test::correlated_inputs(600, 20, seed + 100);
    const Decomposition svd = decompose_svd(w), asvd = decompose_asvd(w, x.abs().mean(0)),
                        llm = decompose_svd_llm(w, test::gram_of(x));
    for (int64_t r = 1; r < 20; ++r) {
      const LowRankWeights fs = truncate(svd, r), fa = truncate(asvd, r), fl = truncate(llm, r);
      const double e_svd = test::output_error(x, w, fs.b, fs.a), e_asvd = test::output_error(x, w, fa.b, fa.a),
                   e_llm = test::output_error(x, w, fl.b, fl.a);
      EXPECT_LE(e_llm, e_svd * (1 + 1e-9)) << "seed " << seed << " rank " << r;
      EXPECT_LE(e_llm, e_asvd * (1 + 1e-9)) << "seed " << seed << " rank " << r;
    }
    // On outlier channels the activation-aware scaling beats the plain SVD by a margin.
    const LowRankWeights fs = truncate(svd, 8), fa = truncate(asvd, 8);
    EXPECT_LT(test::output_error(x, w, fa.b, fa.a), 0.9 * test::output_error(x, w, fs.b, fs.a)) << "seed " << seed;
  }
}

TEST(Asvd, ScalesAreFlooredForSilentChannels) {
  const at::Tensor w = test::random_weight(8, 6, 30);
  at::Tensor abs_mean = at::rand({6}, at::kDouble) + 0.5;
  abs_mean[2] = 0.0;
  AsvdStats st;
  const Decomposition d = decompose_asvd(w, abs_mean, {}, &st);
  EXPECT_EQ(st.floored_channels, 1);
  EXPECT_TRUE(at::isfinite(d.vt).all().item<bool>());
  const LowRankWeights f = truncate(d, 6);
  EXPECT_LT(max_abs(at::mm(f.b, f.a) - w), 1e-8);
}

TEST(RefitB, LeavesSvdLlmUnchangedOnItsOwnInputs) {
  const at::Tensor w = test::random_weight(20, 12, 40);
  const at::Tensor x = test::correlated_inputs(300, 12, 41);
  const at::Tensor g = test::gram_of(x);
  const LowRankWeights f = truncate(decompose_svd_llm(w, g), 5);
  const at::Tensor b = refit_b(w, f.a, g, g, 0.0);
  EXPECT_LT(max_abs(b - f.b) / max_abs(f.b), 1e-8);
}

TEST(RefitB, IsTheLeastSquaresOptimumForDriftedInputs) {
  const at::Tensor w = test::random_weight(20, 12, 42);
  const at::Tensor x = test::correlated_inputs(300, 12, 43);
  // The inputs the factorized layer gets differ from the dense model's.
  const at::Tensor x_hat = x + 0.3 * test::correlated_inputs(300, 12, 44);
  const at::Tensor g_hat = test::gram_of(x_hat), cross = at::mm(x.t(), x_hat);
  const LowRankWeights f = truncate(decompose_svd(w), 6);  // an A that ignores the inputs
  const at::Tensor b = refit_b(w, f.a, cross, g_hat, 0.0);
  auto misfit = [&](const at::Tensor& bb) {
    return (at::mm(x, w.t()) - at::mm(at::mm(x_hat, f.a.t()), bb.t())).square().sum().item<double>();
  };
  const double best = misfit(b);
  EXPECT_LT(best, misfit(f.b));
  // Optimality: the gradient (W C − B A Ĝ) Aᵀ vanishes, and any perturbation costs.
  const at::Tensor grad = at::mm(at::mm(w, cross) - at::mm(at::mm(b, f.a), g_hat), f.a.t());
  EXPECT_LT(max_abs(grad) / max_abs(at::mm(at::mm(w, cross), f.a.t())), 1e-9);
  at::Generator gen = at::detail::createCPUGenerator(45);
  EXPECT_GT(misfit(b + 1e-3 * at::randn(b.sizes(), gen, at::kDouble)), best);
}

TEST(BreakEvenRank, IsTheLargestRankThatSavesParameters) {
  for (auto [m, n] : std::vector<std::pair<int64_t, int64_t>>{{4096, 4096}, {4096, 11008}, {256, 768}, {128, 256}, {7, 3}}) {
    const int64_t r = break_even_rank(m, n);
    EXPECT_LT(r * (m + n), m * n) << m << "x" << n;
    EXPECT_GE((r + 1) * (m + n), m * n) << m << "x" << n;
  }
  EXPECT_EQ(break_even_rank(4096, 4096), 2047);  // mn/(m+n) = 2048 exactly saves nothing
  EXPECT_EQ(break_even_rank(256, 256), 127);
}

}  // namespace
}  // namespace slmkit
