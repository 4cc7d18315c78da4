// The per-channel statistics pruning criteria read: InputStats' optional
// float64 moments and what ChannelMoments derives from them.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "pipeline/calibration.h"
#include "prune/channel_moments.h"

namespace slmkit {
namespace {

TEST(ChannelMoments, MomentsFromInputStatsGiveNormMeanAndSampleVariance) {
  const at::Tensor x1 = at::randn({2, 7, 6}) * 3.0 + 5.0, x2 = at::randn({4, 6});
  InputStats st;
  st.keep_xtx = false;
  st.keep_moments = true;
  st.add(x1);
  st.add(x2);
  EXPECT_FALSE(st.xtx.defined()) << "the [in, in] product is skipped when not asked for";
  const at::Tensor all = at::cat({x1.reshape({-1, 6}), x2}).to(at::kDouble);
  const ChannelMoments m{st.sum, st.sq_sum, st.tokens};
  EXPECT_EQ(m.tokens, 18);
  EXPECT_TRUE(at::allclose(m.mean(), all.mean(0), 1e-6, 1e-6));
  EXPECT_TRUE(at::allclose(m.variance(), all.var(0, /*unbiased=*/true), 1e-5, 1e-5));
  EXPECT_TRUE(at::allclose(m.l2_norm(), all.norm(2, 0), 1e-5, 1e-5));
}

TEST(ChannelMoments, DefaultInputStatsKeepTheirOldBehaviour) {
  InputStats st;
  st.add(at::randn({5, 4}));
  EXPECT_TRUE(st.xtx.defined());
  EXPECT_FALSE(st.sum.defined());
  EXPECT_FALSE(st.sq_sum.defined());
}

}  // namespace
}  // namespace slmkit
