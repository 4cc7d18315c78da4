// The shared sampler (core/sampling): greedy is argmax, the repetition penalty
// and the top-k / top-p cuts restrict what can be drawn, a seed fixes the draws.
#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "core/sampling.h"
#include "test_util.h"

namespace slmkit {
namespace {

SamplingConfig sampled(double temperature, int64_t top_k = 0, double top_p = 1.0, uint64_t seed = 7) {
  SamplingConfig c;
  c.temperature = temperature;
  c.top_k = top_k;
  c.top_p = top_p;
  c.seed = seed;
  return c;
}

TEST(Sampler, GreedyIsTheArgmaxWithTiesToTheLowestId) {
  Sampler s(SamplingConfig{});
  const std::vector<float> logits = {0.5f, 3.0f, -1.0f, 3.0f};
  EXPECT_EQ(s.next(logits.data(), 4, {}), 1);
}

TEST(Sampler, RepetitionPenaltyDividesPositiveAndMultipliesNegativeLogits) {
  SamplingConfig c;
  c.repetition_penalty = 2.0;
  Sampler s(c);
  // Token 1 (3.0 → 1.5) falls below token 0 (2.0); a repeated negative logit
  // would only fall further.
  const std::vector<float> logits = {2.0f, 3.0f, -0.5f};
  EXPECT_EQ(s.next(logits.data(), 3, {1, 1, 2}), 0);
  Sampler plain(SamplingConfig{});
  EXPECT_EQ(plain.next(logits.data(), 3, {1, 1, 2}), 1);
}

TEST(Sampler, TopKOneAndTinyTopPAreGreedy) {
  const std::vector<float> logits = {0.1f, 0.2f, 2.5f, 0.3f, 2.4f};
  for (uint64_t seed = 0; seed < 20; ++seed) {
    Sampler k1(sampled(1.0, 1, 1.0, seed));
    EXPECT_EQ(k1.next(logits.data(), 5, {}), 2);
    Sampler p(sampled(1.0, 0, 1e-6, seed));
    EXPECT_EQ(p.next(logits.data(), 5, {}), 2);
  }
}

TEST(Sampler, TopKLimitsTheDrawsAndTheSeedFixesThem) {
  const std::vector<float> logits = {1.0f, 1.1f, 0.9f, 1.05f, -3.0f, 0.95f};
  std::set<int32_t> seen;
  std::vector<int32_t> first, again;
  Sampler a(sampled(1.0, 3)), b(sampled(1.0, 3));
  for (int i = 0; i < 200; ++i) {
    first.push_back(a.next(logits.data(), 6, {}));
    again.push_back(b.next(logits.data(), 6, {}));
    seen.insert(first.back());
  }
  EXPECT_EQ(first, again);
  EXPECT_EQ(seen, (std::set<int32_t>{0, 1, 3}));  // the three largest, each drawn
}

TEST(Sampler, HighTemperatureReachesEveryToken) {
  const std::vector<float> logits = {0.0f, 1.0f, 2.0f, 3.0f};
  Sampler s(sampled(50.0));
  std::set<int32_t> seen;
  for (int i = 0; i < 400; ++i) seen.insert(s.next(logits.data(), 4, {}));
  EXPECT_EQ(seen.size(), 4u);
}

TEST(Sampler, InvalidSettingsAreErrorsNamingTheFlag) {
  SamplingConfig c;
  c.top_p = 0;
  EXPECT_NE(test::error_of([&] { validate_sampling(c); }).find("--top-p"), std::string::npos);
  c = SamplingConfig{};
  c.temperature = -1;
  EXPECT_NE(test::error_of([&] { validate_sampling(c); }).find("--temperature"), std::string::npos);
  c = SamplingConfig{};
  c.max_new_tokens = 0;
  EXPECT_NE(test::error_of([&] { validate_sampling(c); }).find("--max-tokens"), std::string::npos);
}

}  // namespace
}  // namespace slmkit
