// Round-to-nearest on the min/max grid: exactness on representable weights,
// group layout, degenerate rows/columns and the zero-point conventions.
#include <gtest/gtest.h>

#include <limits>

#include <ATen/ATen.h>

#include "core/error.h"
#include "quantize/gptq_oracle.h"
#include "quantize/quant_test_util.h"
#include "quantize/rtn.h"

namespace slmkit {
namespace {

using test::dequantize_plain;

// Weights that an asymmetric grid represents exactly: per (row, group) a scale, a
// zero in [1, maxq−1] and codes that hit both 0 and maxq, so the group's min/max
// grid is the one they were built on.
struct Representable {
  at::Tensor weight, codes, scales, zeros;
};

Representable make_representable(int64_t out, int64_t in, int64_t group, int bits, uint64_t seed) {
  at::Generator gen = test::seeded(seed);
  const int maxq = (1 << bits) - 1;
  const int64_t n_groups = (in + group - 1) / group;
  Representable r;
  r.codes = at::randint(0, maxq + 1, {out, in}, gen, at::kInt);
  r.zeros = at::randint(1, maxq, {out, n_groups}, gen, at::kInt);
  r.scales = at::rand({out, n_groups}, gen, at::kFloat) * 0.09 + 0.01;
  auto c = r.codes.accessor<int32_t, 2>();
  for (int64_t o = 0; o < out; ++o)
    for (int64_t g = 0; g < n_groups; ++g) {
      const int64_t c0 = g * group, width = std::min(group, in - c0);
      const int64_t lo_at = (o * 7 + g) % width, hi_at = (lo_at + 1 + (o + 3 * g) % (width - 1)) % width;
      c[o][c0 + lo_at] = 0;
      c[o][c0 + hi_at] = maxq;
    }
  IntegerWeights q;
  q.codes = r.codes;
  q.scales = r.scales;
  q.zeros = r.zeros;
  q.g_idx = at::arange(in, at::kLong).div(group, "floor");
  r.weight = dequantize_plain(q).to(at::kFloat);
  return r;
}

TEST(Rtn, RoundTripOnRepresentableWeightsIsExact) {
  for (int bits = 2; bits <= 8; ++bits) {
    for (int64_t group : {int64_t{0}, int64_t{32}, int64_t{7}}) {
      SCOPED_TRACE(testing::Message() << bits << "-bit group " << group);
      const int64_t in = 70;
      const int64_t width = group > 0 ? group : in;
      const Representable r = make_representable(9, in, width, bits, 100 + bits);
      const IntegerWeights q = quantize_rtn(r.weight, QuantGrid{bits, group, false});
      EXPECT_TRUE(at::equal(q.codes, r.codes));
      EXPECT_TRUE(at::equal(q.zeros, r.zeros));
      EXPECT_TRUE(at::allclose(q.scales, r.scales, 1e-6, 0));
      // The recomputed scale (max − min)/maxq may differ from the built one by an ulp.
      EXPECT_TRUE(at::allclose(dequantize_plain(q).to(at::kFloat), r.weight, 1e-6, 0));
    }
  }
}

TEST(Rtn, ErrorShrinksAsBitsGrow) {
  const at::Tensor w = test::random_weight(64, 256, 1);
  for (bool symmetric : {false, true}) {
    for (int64_t group : {int64_t{-1}, int64_t{64}}) {
      double previous = 1e300;
      for (int bits : {2, 3, 4, 8}) {
        const double err = test::squared_error(w, dequantize_plain(quantize_rtn(w, QuantGrid{bits, group, symmetric})));
        SCOPED_TRACE(testing::Message() << bits << "-bit sym=" << symmetric << " group " << group);
        EXPECT_LT(err, previous * 0.5);
        previous = err;
      }
      // 8 bits: steps of ~range/255 ≈ 2e-3 at most, so a mean squared error ≲ step²/12.
      EXPECT_LT(previous / static_cast<double>(w.numel()), 1e-6);
    }
  }
}

TEST(Rtn, PartialLastGroupHasItsOwnGrid) {
  const at::Tensor w = test::random_weight(5, 172, 2);
  const IntegerWeights q = quantize_rtn(w, QuantGrid{4, 32, false});
  ASSERT_EQ(q.n_groups(), 6);
  EXPECT_EQ(q.group_size, 32);
  EXPECT_EQ(q.scales.sizes(), (at::IntArrayRef{5, 6}));
  const at::Tensor g_idx = q.g_idx.to(at::kLong);
  EXPECT_EQ(g_idx[159].item<int64_t>(), 4);
  EXPECT_EQ((g_idx == 5).sum().item<int64_t>(), 12);
  // The last grid is fitted to columns 160..171 alone.
  at::Tensor scale, zero;
  find_grid_params(w.narrow(1, 160, 12), QuantGrid{4, 32, false}, &scale, &zero);
  EXPECT_TRUE(at::equal(q.scales.select(1, 5), scale));
  EXPECT_TRUE(at::equal(q.zeros.select(1, 5), zero));
  // Per-row grids: one group spanning all columns.
  const IntegerWeights row = quantize_rtn(w, QuantGrid{4, -1, false});
  EXPECT_EQ(row.n_groups(), 1);
  EXPECT_EQ(row.group_size, 172);
  EXPECT_EQ(row.g_idx.max().item<int64_t>(), 0);
  EXPECT_TRUE(at::equal(quantize_rtn(w, QuantGrid{4, 0, false}).codes, row.codes));
}

TEST(Rtn, ZeroRowsAndColumnsStayExactlyZero) {
  at::Tensor w = test::random_weight(8, 96, 3);
  w.select(0, 3).zero_();
  w.select(1, 5).zero_();
  w.select(1, 40).zero_();
  for (bool symmetric : {false, true}) {
    for (int bits : {2, 4, 8}) {
      SCOPED_TRACE(testing::Message() << bits << "-bit sym=" << symmetric);
      const IntegerWeights q = quantize_rtn(w, QuantGrid{bits, 32, symmetric});
      const at::Tensor deq = dequantize_plain(q);
      EXPECT_TRUE(at::isfinite(q.scales).all().item<bool>());
      EXPECT_GT(q.scales.min().item<float>(), 0);
      EXPECT_GE(q.zeros.min().item<int32_t>(), 0);
      EXPECT_LE(q.zeros.max().item<int32_t>(), (1 << bits) - 1);
      EXPECT_EQ(deq.select(0, 3).abs().max().item<double>(), 0.0);
      EXPECT_EQ(deq.select(1, 5).abs().max().item<double>(), 0.0);
      EXPECT_EQ(deq.select(1, 40).abs().max().item<double>(), 0.0);
    }
  }
  const at::Tensor zeros = at::zeros({4, 10});
  const at::Tensor deq = dequantize_plain(quantize_rtn(zeros, QuantGrid{3, -1, false}));
  EXPECT_EQ(deq.abs().max().item<double>(), 0.0);
}

TEST(Rtn, ZeroPointsAndHalfStepBound) {
  const at::Tensor w = test::random_weight(16, 128, 4) + 0.02;  // skewed, so asymmetric zeros move
  for (int bits = 2; bits <= 8; ++bits) {
    const int maxq = (1 << bits) - 1;
    for (bool symmetric : {false, true}) {
      SCOPED_TRACE(testing::Message() << bits << "-bit sym=" << symmetric);
      const IntegerWeights q = quantize_rtn(w, QuantGrid{bits, 32, symmetric});
      EXPECT_GE(q.codes.min().item<int32_t>(), 0);
      EXPECT_LE(q.codes.max().item<int32_t>(), maxq);
      if (symmetric) {
        EXPECT_TRUE((q.zeros == (1 << (bits - 1))).all().item<bool>());
      } else {
        EXPECT_GE(q.zeros.min().item<int32_t>(), 0);
        EXPECT_LE(q.zeros.max().item<int32_t>(), maxq);
        EXPECT_GT(q.zeros.max().item<int32_t>(), q.zeros.min().item<int32_t>());
      }
      // Every weight lies inside its grid's range, so rounding is off by at most half a step.
      const at::Tensor step = q.scales.index_select(1, q.g_idx.to(at::kLong)).to(at::kDouble);
      const at::Tensor err = (dequantize_plain(q) - w.to(at::kDouble)).abs();
      EXPECT_TRUE((err <= step * (0.5 + 1e-5)).all().item<bool>());
    }
  }
}

TEST(Rtn, FindGridParamsMatchesPerRowRtn) {
  const at::Tensor w = test::random_weight(12, 50, 5);
  for (bool symmetric : {false, true}) {
    at::Tensor scale, zero;
    find_grid_params(w, QuantGrid{3, 16, symmetric}, &scale, &zero);
    const IntegerWeights q = quantize_rtn(w, QuantGrid{3, -1, symmetric});
    EXPECT_TRUE(at::equal(scale, q.scales.select(1, 0)));
    EXPECT_TRUE(at::equal(zero, q.zeros.select(1, 0)));
  }
}

TEST(Rtn, RejectsBadInput) {
  const at::Tensor w = test::random_weight(4, 8, 6);
  EXPECT_THROW(quantize_rtn(w, QuantGrid{1, -1, false}), Error);
  EXPECT_THROW(quantize_rtn(w, QuantGrid{9, -1, false}), Error);
  EXPECT_THROW(quantize_rtn(w, QuantGrid{4, -2, false}), Error);
  EXPECT_THROW(quantize_rtn(w.flatten(), QuantGrid{}), Error);
  at::Tensor bad = w.clone();
  bad[1][2] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(quantize_rtn(bad, QuantGrid{}), Error);
}

TEST(QuantGrid, Describe) {
  EXPECT_EQ(describe(QuantGrid{4, 128, false}), "4-bit g128 asym");
  EXPECT_EQ(describe(QuantGrid{3, -1, true}), "3-bit per-row sym");
  EXPECT_EQ(effective_group_size(QuantGrid{4, 128, false}, 64), 64);
  EXPECT_EQ(effective_group_size(QuantGrid{4, 0, false}, 100), 100);
  EXPECT_EQ(effective_group_size(QuantGrid{4, 32, false}, 100), 32);
}

}  // namespace
}  // namespace slmkit

namespace slmkit {
namespace {

// GPTQ v1 checkpoints store zero − 1, so a zero of 0 cannot be saved. A group
// without negative weights must still get a storable zero and stay accurate.
TEST(RtnGrid, GroupsWithoutNegativeWeightsGetAStorableZero) {
  const at::Tensor w = at::rand({8, 64}) * 0.1 + 0.001;  // all positive
  for (int bits : {2, 3, 4, 8}) {
    const IntegerWeights q = quantize_rtn(w, QuantGrid{bits, 32, false});
    EXPECT_GE(q.zeros.min().item<int32_t>(), 1) << bits << "-bit";
    const QuantizedWeights packed = pack_gptq(q);  // would throw for a zero of 0
    const at::Tensor err = (packed.dequantize(at::kFloat) - w).abs();
    const at::Tensor step = q.scales.repeat_interleave(32, 1);
    EXPECT_TRUE((err <= step * 0.5 + 1e-3).all().item<bool>()) << bits << "-bit: error beyond half a step";
  }
}

}  // namespace
}  // namespace slmkit
