// KL divergence against a base model: zero against itself, positive and
// growing with the size of a perturbation.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "eval/kl_divergence.h"
#include "model/checkpoint.h"
#include "test_util.h"

namespace slmkit {
namespace {

std::vector<int32_t> random_tokens(int64_t n) {
  const at::Tensor t = at::randint(3, 512, {n}, at::kInt);
  return std::vector<int32_t>(t.data_ptr<int32_t>(), t.data_ptr<int32_t>() + n);
}

Model perturbed(double scale) {
  Model m = load_model(test::data_path("models/stories260k"));
  at::manual_seed(1);
  Linear& l = m.linear("model.layers.2.mlp.down_proj");
  l.weights = DenseWeights{l.dense_weight() + scale * at::randn_like(l.dense_weight())};
  return m;
}

TEST(KlDivergence, ModelAgainstItselfIsZeroWithFullAgreement) {
  const Model m = load_model(test::data_path("models/stories260k"));
  PerplexityConfig cfg;
  cfg.context = 128;
  const KlStats st = kl_divergence(m, m, random_tokens(128 * 4), 1, cfg);
  EXPECT_EQ(st.windows, 4);
  EXPECT_EQ(st.tokens, 4 * 127);
  EXPECT_NEAR(st.mean_kl, 0.0, 1e-7);
  EXPECT_DOUBLE_EQ(st.top1_agreement, 1.0);
}

TEST(KlDivergence, GrowsWithThePerturbation) {
  const Model base = load_model(test::data_path("models/stories260k"));
  const auto tokens = random_tokens(128 * 3);
  PerplexityConfig cfg;
  cfg.context = 128;
  const KlStats small = kl_divergence(base, perturbed(0.02), tokens, 1, cfg);
  const KlStats large = kl_divergence(base, perturbed(0.2), tokens, 1, cfg);
  EXPECT_GT(small.mean_kl, 0.0);
  EXPECT_GT(large.mean_kl, small.mean_kl);
  EXPECT_GE(large.p99_kl, large.mean_kl);
  EXPECT_LT(large.top1_agreement, 1.0);
}

TEST(KlDivergence, LlamaCppProtocolScoresTheSecondHalfOnly) {
  const Model m = load_model(test::data_path("models/stories260k"));
  PerplexityConfig cfg;
  cfg.protocol = PplProtocol::kLlamaCpp;
  cfg.context = 128;
  const KlStats st = kl_divergence(m, perturbed(0.05), random_tokens(128 * 2), 1, cfg);
  EXPECT_EQ(st.tokens, 2 * (128 - 64 - 1));
}

}  // namespace
}  // namespace slmkit
