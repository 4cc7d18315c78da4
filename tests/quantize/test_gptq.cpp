// GPTQ against a plain column-by-column oracle, against RTN, and on broken Hessians.
#include <gtest/gtest.h>

#include <cstdio>
#include <limits>
#include <string>


#include <ATen/ATen.h>

#include "core/error.h"
#include "quantize/gptq.h"
#include "quantize/gptq_oracle.h"
#include "quantize/quant_test_util.h"
#include "quantize/rtn.h"

namespace slmkit {
namespace {

using test::dequantize_plain;

GptqConfig make_config(int bits, int64_t group, bool act_order, bool static_groups, int64_t block = 128,
                       bool symmetric = false) {
  GptqConfig c;
  c.grid = QuantGrid{bits, group, symmetric};
  c.act_order = act_order;
  c.static_groups = static_groups;
  c.block_size = block;
  return c;
}

test::OracleOptions oracle_options(const GptqConfig& c) {
  test::OracleOptions o;
  o.bits = c.grid.bits;
  o.group_size = c.grid.group_size;
  o.symmetric = c.grid.symmetric;
  o.act_order = c.act_order;
  o.static_groups = c.static_groups;
  o.percdamp = c.percdamp;
  return o;
}

std::string label(int64_t out, int64_t in, const GptqConfig& c) {
  return cat(out, "x", in, " ", describe(c.grid), c.act_order ? " act-order" : "",
             c.static_groups ? " static" : "", " block ", c.block_size);
}

// tr(ΔW·(H + λI)·ΔWᵀ) for ΔW = W − deq (float64): what GPTQ's summed Losses must equal.
double damped_quadratic_error(const at::Tensor& w, const at::Tensor& deq, const at::Tensor& h, double damp) {
  const at::Tensor diff = w.to(at::kDouble) - deq.to(at::kDouble);
  at::Tensor hd = h.to(at::kDouble).clone();
  hd.diagonal().add_(damp);
  return (diff.mm(hd) * diff).sum().item<double>();
}

TEST(Gptq, MatchesOracleWithinOnePercent) {
  struct Shape {
    int64_t out, in;
  };
  int cases = 0;
  for (const Shape shape : {Shape{64, 96}, Shape{48, 172}}) {
    const at::Tensor w = test::random_weight(shape.out, shape.in, 10 + shape.in);
    const at::Tensor x = test::correlated_inputs(2 * shape.in, shape.in, 20 + shape.in);
    const at::Tensor h = test::hessian_from(x);
    std::vector<GptqConfig> configs;
    for (int64_t block : {int64_t{128}, int64_t{24}})
      for (bool act_order : {false, true}) {
        configs.push_back(make_config(4, -1, act_order, false, block));
        configs.push_back(make_config(4, 32, act_order, false, block));
        configs.push_back(make_config(4, 32, act_order, true, block));
      }
    configs.push_back(make_config(3, 32, true, false, 20, /*symmetric=*/true));
    configs.push_back(make_config(3, 32, true, true, 20, /*symmetric=*/true));
    for (const GptqConfig& config : configs) {
      SCOPED_TRACE(label(shape.out, shape.in, config));
      GptqStats stats;
      const IntegerWeights q = quantize_gptq(w, h, config, &stats);
      const test::OracleResult oracle = gptq_oracle(w, h, oracle_options(config));
      const double mine = test::output_error(x, w, dequantize_plain(q));
      const double reference = test::output_error(x, w, oracle.dequantized);
      std::printf("  parity %-44s error %.6e oracle %.6e ratio %.5f\n", label(shape.out, shape.in, config).c_str(),
                  mine, reference, mine / reference);
      EXPECT_NEAR(mine / reference, 1.0, 0.01);
      EXPECT_TRUE(at::equal(q.g_idx.to(at::kLong), oracle.g_idx));
      EXPECT_NEAR(stats.damp_used, oracle.damp, 1e-6 * oracle.damp);
      ++cases;
    }
  }
  EXPECT_EQ(cases, 28);
}

TEST(Gptq, BeatsRtnOnCorrelatedInputs) {
  const at::Tensor w = test::random_weight(64, 128, 30);
  const at::Tensor x = test::correlated_inputs(256, 128, 31);
  const at::Tensor h = test::hessian_from(x);
  for (int64_t group : {int64_t{-1}, int64_t{32}}) {
    for (bool act_order : {false, true}) {
      const GptqConfig config = make_config(3, group, act_order, false);
      const double gptq = test::output_error(x, w, dequantize_plain(quantize_gptq(w, h, config)));
      const double rtn = test::output_error(x, w, dequantize_plain(quantize_rtn(w, config.grid)));
      std::printf("  %-36s gptq/rtn output error %.4f\n", label(64, 128, config).c_str(), gptq / rtn);
      EXPECT_LT(gptq, 0.7 * rtn) << label(64, 128, config);
    }
  }
}

// With H = I (damped to 1.01·I) the inverse factor is diagonal: no error reaches
// another column, every grid sees the original weights, and the stable act-order
// sort keeps the original order — so GPTQ must reproduce RTN bit for bit.
TEST(Gptq, IdentityHessianReproducesRtnExactly) {
  const at::Tensor w = test::random_weight(40, 172, 40);
  const at::Tensor h = at::eye(172, at::kFloat);
  for (int64_t group : {int64_t{-1}, int64_t{32}}) {
    for (bool static_groups : {false, true}) {
      for (bool act_order : {false, true}) {
        for (bool symmetric : {false, true}) {
          const GptqConfig config = make_config(4, group, act_order, static_groups, 24, symmetric);
          SCOPED_TRACE(label(40, 172, config));
          const IntegerWeights g = quantize_gptq(w, h, config);
          const IntegerWeights r = quantize_rtn(w, config.grid);
          EXPECT_TRUE(at::equal(g.codes, r.codes));
          EXPECT_TRUE(at::equal(g.scales, r.scales));
          EXPECT_TRUE(at::equal(g.zeros, r.zeros));
          EXPECT_TRUE(at::equal(g.g_idx.to(at::kLong), r.g_idx.to(at::kLong)));
          EXPECT_EQ(g.group_size, r.group_size);
        }
      }
    }
  }
}

// Σ e² with e = (w − q)/U_ii telescopes to ΔW·(H + λI)·ΔWᵀ exactly, so this checks
// that the codes returned in original order are the ones the feedback assumed.
TEST(Gptq, WeightedErrorEqualsDampedQuadraticError) {
  const at::Tensor w = test::random_weight(32, 100, 50);
  const at::Tensor h = test::hessian_from(test::correlated_inputs(200, 100, 51));
  for (bool act_order : {false, true}) {
    for (bool static_groups : {false, true}) {
      const GptqConfig config = make_config(3, 16, act_order, static_groups, 24);
      SCOPED_TRACE(label(32, 100, config));
      GptqStats stats;
      const IntegerWeights q = quantize_gptq(w, h, config, &stats);
      const double expected = damped_quadratic_error(w, dequantize_plain(q), h, stats.damp_used);
      EXPECT_NEAR(stats.weighted_error / expected, 1.0, 1e-3);
      EXPECT_EQ(stats.damp_retries, 0);
      EXPECT_EQ(stats.dead_columns, 0);
    }
  }
}

TEST(Gptq, ActOrderGroupsFollowTheHessianDiagonal) {
  const int64_t out = 48, in = 172, group = 32;
  const at::Tensor w = test::random_weight(out, in, 60);
  const at::Tensor h = test::hessian_from(test::correlated_inputs(2 * in, in, 61));
  const IntegerWeights q = quantize_gptq(w, h, make_config(4, group, true, false));
  ASSERT_EQ(q.n_groups(), 6);
  const at::Tensor g_idx = q.g_idx.to(at::kLong);
  const at::Tensor counts = at::bincount(g_idx);
  for (int64_t g = 0; g < 5; ++g) EXPECT_EQ(counts[g].item<int64_t>(), group);
  EXPECT_EQ(counts[5].item<int64_t>(), in % group);
  // Group g holds the columns ranked g·32 … g·32+31 by decreasing diag(H).
  const at::Tensor order = std::get<1>(at::sort(h.diagonal(), true, 0, true));
  for (int64_t rank = 0; rank < in; ++rank)
    ASSERT_EQ(g_idx[order[rank].item<int64_t>()].item<int64_t>(), rank / group) << "rank " << rank;
  EXPECT_FALSE(at::equal(g_idx, at::arange(in, at::kLong).div(group, "floor")));
  // Static groups with act-order keep the trivial layout.
  const IntegerWeights s = quantize_gptq(w, h, make_config(4, group, true, true));
  EXPECT_TRUE(at::equal(s.g_idx.to(at::kLong), at::arange(in, at::kLong).div(group, "floor")));
}

// Lazy batches are an optimization: any block size gives the same solve up to
// fp32 summation order (and groups straddling blocks see their pending feedback).
TEST(Gptq, BlockSizeDoesNotChangeTheResult) {
  const at::Tensor w = test::random_weight(48, 172, 70);
  const at::Tensor x = test::correlated_inputs(344, 172, 71);
  const at::Tensor h = test::hessian_from(x);
  const double reference =
      test::output_error(x, w, dequantize_plain(quantize_gptq(w, h, make_config(4, 32, true, false, 1))));
  for (int64_t block : {int64_t{7}, int64_t{24}, int64_t{50}, int64_t{128}, int64_t{1000}}) {
    const double err =
        test::output_error(x, w, dequantize_plain(quantize_gptq(w, h, make_config(4, 32, true, false, block))));
    EXPECT_NEAR(err / reference, 1.0, 0.005) << "block " << block;
  }
}

TEST(Gptq, IndefiniteHessianGetsMoreDamping) {
  const int64_t out = 32, in = 96;
  const at::Tensor w = test::random_weight(out, in, 80);
  // Rank in/2, then shifted by −δ: in/2 eigenvalues at −δ, more negative than
  // the default 1% damping can repair.
  at::Tensor h = test::hessian_from(test::correlated_inputs(in / 2, in, 81));
  const double delta = 0.03 * h.diagonal().mean().item<double>();
  h.diagonal().sub_(delta);
  GptqStats stats;
  IntegerWeights q;
  ASSERT_NO_THROW(q = quantize_gptq(w, h, make_config(4, 32, true, false), &stats));
  EXPECT_GE(stats.damp_retries, 1);
  EXPECT_GT(stats.damp_used, delta);
  EXPECT_EQ(stats.dead_columns, 0);
  EXPECT_TRUE(at::isfinite(dequantize_plain(q)).all().item<bool>());
  EXPECT_TRUE(std::isfinite(stats.weighted_error));

  // Exactly singular with percdamp = 0: the first retry must start from a
  // non-zero λ instead of multiplying 0 by 10.
  GptqConfig no_damp = make_config(4, -1, false, false);
  no_damp.percdamp = 0;
  GptqStats singular_stats;
  ASSERT_NO_THROW(q = quantize_gptq(w, at::ones({in, in}), no_damp, &singular_stats));
  EXPECT_GE(singular_stats.damp_retries, 1);
  EXPECT_GT(singular_stats.damp_used, 0);
  EXPECT_TRUE(at::isfinite(dequantize_plain(q)).all().item<bool>());
}

TEST(Gptq, DeadColumnsAreDroppedAndCounted) {
  const int64_t out = 24, in = 64;
  const at::Tensor w = test::random_weight(out, in, 90);
  for (bool act_order : {false, true}) {
    GptqStats stats;
    const IntegerWeights all_dead = quantize_gptq(w, at::zeros({in, in}), make_config(4, 16, act_order, false), &stats);
    EXPECT_EQ(stats.dead_columns, in);
    EXPECT_EQ(stats.damp_retries, 0);
    EXPECT_EQ(dequantize_plain(all_dead).abs().max().item<double>(), 0.0);

    at::Tensor x = test::correlated_inputs(128, in, 91);
    x.select(1, 3).zero_();
    x.select(1, 50).zero_();
    const IntegerWeights q = quantize_gptq(w, test::hessian_from(x), make_config(4, 16, act_order, false), &stats);
    EXPECT_EQ(stats.dead_columns, 2);
    const at::Tensor deq = dequantize_plain(q);
    EXPECT_TRUE(at::isfinite(deq).all().item<bool>());
    EXPECT_EQ(deq.select(1, 3).abs().max().item<double>(), 0.0);
    EXPECT_EQ(deq.select(1, 50).abs().max().item<double>(), 0.0);
  }
}

TEST(Gptq, RejectsBadInput) {
  const at::Tensor w = test::random_weight(8, 16, 100);
  const at::Tensor h = at::eye(16);
  EXPECT_THROW(quantize_gptq(w, at::eye(15), GptqConfig{}), Error);
  EXPECT_THROW(quantize_gptq(w.flatten(), h, GptqConfig{}), Error);
  at::Tensor nan_h = h.clone();
  nan_h[2][3] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(quantize_gptq(w, nan_h, GptqConfig{}), Error);
  at::Tensor negative = h.clone();
  negative[4][4] = -1;
  EXPECT_THROW(quantize_gptq(w, negative, GptqConfig{}), Error);
  GptqConfig bad_block;
  bad_block.block_size = 0;
  EXPECT_THROW(quantize_gptq(w, h, bad_block), Error);
  GptqConfig bad_bits;
  bad_bits.grid.bits = 1;
  EXPECT_THROW(quantize_gptq(w, h, bad_bits), Error);
}

}  // namespace
}  // namespace slmkit
