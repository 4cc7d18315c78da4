// The calibration engine: deterministic windows, block-by-block propagation
// equal to the whole forward pass, exact input statistics.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include "core/error.h"
#include "model/checkpoint.h"
#include "model/forward.h"
#include "pipeline/calibration.h"
#include "test_util.h"

namespace slmkit {
namespace {

std::vector<int32_t> counting_tokens(int32_t n) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) t[static_cast<size_t>(i)] = i;
  return t;
}

TEST(CalibrationWindows, SameSeedSameWindowsAndEachIsAContiguousSlice) {
  const auto tokens = counting_tokens(5000);
  const at::Tensor a = draw_calibration_windows(tokens, 16, 64, 7);
  const at::Tensor b = draw_calibration_windows(tokens, 16, 64, 7);
  const at::Tensor c = draw_calibration_windows(tokens, 16, 64, 8);
  EXPECT_TRUE(at::equal(a, b));
  EXPECT_FALSE(at::equal(a, c));
  ASSERT_EQ(a.sizes(), (at::IntArrayRef{16, 64}));
  for (int64_t s = 0; s < 16; ++s) {
    const int64_t first = a[s][0].item<int64_t>();
    EXPECT_TRUE(at::equal(a[s], at::arange(first, first + 64, at::kLong))) << "window " << s;
    EXPECT_LE(first + 64, 5000);
  }
}

TEST(CalibrationWindows, TextShorterThanOneWindowIsAnError) {
  EXPECT_THROW(draw_calibration_windows(counting_tokens(50), 4, 64, 0), Error);
}

TEST(InputStats, AccumulatesXtXAbsMeanAndTokenCount) {
  const at::Tensor x1 = at::randn({2, 5, 6}), x2 = at::randn({3, 6});
  InputStats st;
  st.add(x1);
  st.add(x2);
  const at::Tensor all = at::cat({x1.reshape({-1, 6}), x2});
  EXPECT_EQ(st.tokens, 13);
  EXPECT_TRUE(at::allclose(st.xtx, at::mm(all.t(), all), 1e-5, 1e-5));
  EXPECT_TRUE(at::allclose(st.abs_mean(), all.abs().mean(0), 1e-6, 1e-6));
}

TEST(BlockRunner, BlockByBlockPropagationEqualsTheWholeForwardPass) {
  c10::InferenceMode guard;
  const Model m = load_model(test::data_path("models/stories260k"));
  const at::Tensor windows = at::randint(0, 512, {5, 40}, at::kLong);
  BlockRunner runner(m, windows, /*chunk=*/2);  // chunks of 2 windows: 2 + 2 + 1
  int taps = 0;
  const LinearTap count = [&](const std::string&, const at::Tensor&) { ++taps; };
  for (int64_t l = 0; l < m.config.num_layers(); ++l) runner.advance(runner.run(&count, true));
  EXPECT_EQ(taps, 5 * 7 * 3) << "7 linears per block, 3 chunks, 5 blocks";
  const at::Tensor ours = lm_logits(m, runner.inputs());
  EXPECT_LT((ours - forward(m, windows)).abs().max().item<float>(), 1e-4);
}

}  // namespace
}  // namespace slmkit
