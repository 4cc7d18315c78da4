// Every available SIMD path against the scalar references, on odd shapes,
// partial groups, act-order, symmetric/asymmetric, 2/3/4/8 bits and n = 1..17.
#include <gtest/gtest.h>

#include <omp.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/gptq_fixture.h"
#include "test_util.h"

namespace slmkit::runtime {
namespace {

using test::Grouping;

// Forces each available path in turn (unavailable ones are skipped, never failed).
template <typename Fn>
void for_each_path(Fn&& fn) {
  for (SimdPath p : available_simd_paths()) {
    force_simd_path(p);
    SCOPED_TRACE(simd_path_name(p));
    fn(p);
  }
  reset_simd_path();
}

// Σ_i |scale| · (code + zero) · |x_i| per output: the size of the terms the
// kernels add (they form Σ code·x and zero·Σx separately), which bounds fp32 rounding.
std::vector<double> term_magnitude(const test::IntegerLayer& l, const float* x) {
  std::vector<double> mag(static_cast<size_t>(l.out), 0.0);
  for (int64_t o = 0; o < l.out; ++o)
    for (int64_t i = 0; i < l.in; ++i) {
      const int64_t g = l.g_idx[static_cast<size_t>(i)];
      mag[static_cast<size_t>(o)] += std::fabs(f16_to_f32(l.scales[static_cast<size_t>(o * l.groups + g)])) *
                                     (l.codes[static_cast<size_t>(o * l.in + i)] + l.zeros[static_cast<size_t>(o * l.groups + g)]) *
                                     std::fabs(x[i]);
    }
  return mag;
}

// fp32 rounding of sums of ~n_blocks terms: a few ulps of the term magnitude.
constexpr double kRelTol = 1e-6;

void expect_close(const std::vector<float>& got, const std::vector<float>& want, const std::vector<double>& mag,
                  int64_t out, const char* what) {
  int64_t bad = 0;
  double worst = 0.0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double m = mag[i % static_cast<size_t>(out)] + 1e-30;
    const double rel = std::fabs(static_cast<double>(got[i]) - want[i]) / m;
    worst = std::max(worst, rel);
    if (!(rel <= kRelTol)) ++bad;
  }
  EXPECT_EQ(bad, 0) << what << ": worst error " << worst << " of the term magnitude";
}

struct Case {
  int bits;
  int64_t out, in, group_size;
  Grouping grouping;
  bool symmetric;
};

std::string describe(const Case& c) {
  return ::testing::PrintToString(c.bits) + "-bit [" + std::to_string(c.out) + ", " + std::to_string(c.in) + "] g" +
         std::to_string(c.group_size) + (c.grouping == Grouping::kActOrder ? " act-order" : "") +
         (c.symmetric ? " sym" : " asym");
}

TEST(LinearKernels, MatvecMatchesReferenceOnOddShapes) {
  const int64_t sizes[] = {1, 7, 31, 33, 127, 4099};
  uint32_t seed = 100;
  int cases = 0;
  for (int64_t out : sizes)
    for (int64_t in : sizes) {
      // Vary the rest with the shape so every combination shows up somewhere.
      const int variant = cases++;
      Case c{variant % 2 == 0 ? 4 : 8, out, in, (variant / 2) % 3 == 0 ? 32 : ((variant / 2) % 3 == 1 ? 128 : 0),
             (variant / 3) % 2 == 0 ? Grouping::kContiguous : Grouping::kActOrder, (variant / 5) % 2 == 1};
      if (out * in > 4099 * 127 && c.bits == 8) c.bits = 4;  // keeps the double reference quick
      SCOPED_TRACE(describe(c));
      const test::IntegerLayer l = test::random_layer(c.bits, out, in, c.group_size, c.symmetric, c.grouping, ++seed);
      const PackedLinear w = pack_gptq(test::pack_words(l).view(l));
      const std::vector<float> x = test::random_activations(in, ++seed), bias = test::random_activations(out, ++seed);
      std::vector<float> want(static_cast<size_t>(out));
      matvec_reference(w, x.data(), bias.data(), want.data());
      std::vector<double> mag = term_magnitude(l, x.data());
      for (int64_t o = 0; o < out; ++o) mag[static_cast<size_t>(o)] += std::fabs(bias[static_cast<size_t>(o)]);
      for_each_path([&](SimdPath) {
        std::vector<float> got(static_cast<size_t>(out), NAN);
        matvec(w, x.data(), bias.data(), got.data());
        expect_close(got, want, mag, out, "matvec");
      });
    }
}

TEST(LinearKernels, EveryBitWidthAndGroupingOnBothFormats) {
  uint32_t seed = 200;
  for (int bits : {2, 3, 4, 8})
    for (int64_t gs : {32, 48, 128, 0})
      for (Grouping grouping : {Grouping::kContiguous, Grouping::kActOrder})
        for (bool sym : {false, true}) {
          const Case c{bits, 37, 333, gs, grouping, sym};
          SCOPED_TRACE(describe(c));
          const test::IntegerLayer l = test::random_layer(bits, c.out, c.in, gs, sym, grouping, ++seed);
          const PackedLinear w = pack_gptq(test::pack_words(l).view(l));
          const std::vector<float> x = test::random_activations(c.in, ++seed);
          std::vector<float> want(static_cast<size_t>(c.out));
          matvec_reference(w, x.data(), nullptr, want.data());
          const std::vector<double> mag = term_magnitude(l, x.data());
          for_each_path([&](SimdPath) {
            std::vector<float> got(static_cast<size_t>(c.out), NAN);
            matvec(w, x.data(), nullptr, got.data());
            expect_close(got, want, mag, c.out, "matvec");
          });
        }
}

TEST(LinearKernels, MatmulMatchesReferenceForOneToSeventeenTokens) {
  uint32_t seed = 300;
  for (const Case& c : {Case{4, 33, 127, 32, Grouping::kContiguous, false}, Case{8, 127, 33, 128, Grouping::kActOrder, false},
                        Case{4, 71, 4099, 128, Grouping::kContiguous, true}, Case{8, 65, 1000, 32, Grouping::kContiguous, true},
                        Case{4, 96, 512, 32, Grouping::kActOrder, true}, Case{3, 40, 200, 64, Grouping::kContiguous, false}}) {
    SCOPED_TRACE(describe(c));
    const test::IntegerLayer l = test::random_layer(c.bits, c.out, c.in, c.group_size, c.symmetric, c.grouping, ++seed);
    const PackedLinear w = pack_gptq(test::pack_words(l).view(l));
    const int64_t max_n = 17;
    const std::vector<float> x = test::random_activations(max_n * c.in, ++seed), bias = test::random_activations(c.out, ++seed);
    std::vector<float> want(static_cast<size_t>(max_n * c.out));
    matmul_reference(w, x.data(), max_n, bias.data(), want.data());
    std::vector<double> mag(static_cast<size_t>(max_n * c.out));
    for (int64_t t = 0; t < max_n; ++t) {
      const std::vector<double> m = term_magnitude(l, x.data() + t * c.in);
      for (int64_t o = 0; o < c.out; ++o) mag[static_cast<size_t>(t * c.out + o)] = m[static_cast<size_t>(o)] + std::fabs(bias[static_cast<size_t>(o)]);
    }
    for_each_path([&](SimdPath) {
      for (int64_t n = 1; n <= max_n; ++n) {
        SCOPED_TRACE(::testing::Message() << "n = " << n);
        std::vector<float> got(static_cast<size_t>(n * c.out), NAN);
        matmul(w, x.data(), n, bias.data(), got.data());
        const std::vector<float> want_n(want.begin(), want.begin() + n * c.out);
        // mag is laid out per token like y: index t·out + o.
        int64_t bad = 0;
        for (int64_t i = 0; i < n * c.out; ++i)
          if (!(std::fabs(static_cast<double>(got[static_cast<size_t>(i)]) - want_n[static_cast<size_t>(i)]) <=
                kRelTol * mag[static_cast<size_t>(i)] + 1e-30))
            ++bad;
        EXPECT_EQ(bad, 0);
      }
    });
  }
}

// The int8 activations are the only approximation: each activation moves by at
// most half its block's step, so |y_ref − W·x| ≤ Σ_i |w_i| · sx_block(i) / 2.
TEST(LinearKernels, ReferenceIsWithinActivationRoundingOfTheExactProduct) {
  const test::IntegerLayer l = test::random_layer(4, 64, 2048, 32, false, Grouping::kActOrder, 400);
  const PackedLinear w = pack_gptq(test::pack_words(l).view(l));
  const std::vector<float> x = test::random_activations(l.in, 401);
  std::vector<float> y(static_cast<size_t>(l.out));
  matvec_reference(w, x.data(), nullptr, y.data());
  std::vector<int8_t> q(static_cast<size_t>(w.k_padded));
  std::vector<float> sx(static_cast<size_t>(w.n_blocks)), c(static_cast<size_t>(w.n_blocks));
  quantize_activations(w, x.data(), q.data(), sx.data(), c.data());
  ASSERT_FALSE(w.in_index.empty());
  double largest = 0.0;
  for (int64_t o = 0; o < l.out; ++o) {
    double exact = 0.0, bound = 0.0;
    for (int64_t k = 0; k < w.k_padded; ++k) {
      const int32_t col = w.in_index[static_cast<size_t>(k)];
      if (col < 0) continue;
      exact += l.weight(o, col) * x[static_cast<size_t>(col)];
      bound += std::fabs(l.weight(o, col)) * sx[static_cast<size_t>(k / 32)] / 2;
    }
    const double err = std::fabs(y[static_cast<size_t>(o)] - exact);
    EXPECT_LE(err, bound * (1 + 1e-5) + 1e-6) << "row " << o;
    largest = std::max(largest, err);
  }
  EXPECT_GT(largest, 1e-6) << "int8 activations cannot be exact on random inputs";
}

TEST(LinearKernels, DenseMatchesReferenceInEveryStorageType) {
  uint32_t seed = 500;
  for (DType dt : {DType::F32, DType::F16, DType::BF16})
    for (const auto& [out, in] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {7, 33}, {33, 127}, {127, 4099}, {100, 64}}) {
      SCOPED_TRACE(::testing::Message() << dtype_name(dt) << " [" << out << ", " << in << "]");
      const std::vector<float> wf = test::random_activations(out * in, ++seed);
      std::vector<uint8_t> bytes(static_cast<size_t>(out * in) * dtype_size(dt));
      for (int64_t i = 0; i < out * in; ++i) {
        const float v = wf[static_cast<size_t>(i)];
        if (dt == DType::F32) std::memcpy(bytes.data() + 4 * i, &v, 4);
        const uint16_t h = dt == DType::F16 ? f32_to_f16(v) : f32_to_bf16(v);
        if (dt != DType::F32) std::memcpy(bytes.data() + 2 * i, &h, 2);
      }
      const PackedLinear w = pack_dense(bytes.data(), dt, out, in);
      const std::vector<float> deq = dequantize(w);
      const int64_t n = 9;
      const std::vector<float> x = test::random_activations(n * in, ++seed), bias = test::random_activations(out, ++seed);
      std::vector<float> want(static_cast<size_t>(n * out));
      matmul_reference(w, x.data(), n, bias.data(), want.data());
      std::vector<double> mag(static_cast<size_t>(n * out));
      for (int64_t t = 0; t < n; ++t)
        for (int64_t o = 0; o < out; ++o) {
          double m = std::fabs(bias[static_cast<size_t>(o)]);
          for (int64_t i = 0; i < in; ++i) m += std::fabs(deq[static_cast<size_t>(o * in + i)] * x[static_cast<size_t>(t * in + i)]);
          mag[static_cast<size_t>(t * out + o)] = m;
        }
      for_each_path([&](SimdPath) {
        std::vector<float> got(static_cast<size_t>(out), NAN);
        matvec(w, x.data(), bias.data(), got.data());
        for (int64_t o = 0; o < out; ++o)
          EXPECT_NEAR(got[static_cast<size_t>(o)], want[static_cast<size_t>(o)], kRelTol * mag[static_cast<size_t>(o)]) << "matvec row " << o;
        std::vector<float> got_n(static_cast<size_t>(n * out), NAN);
        matmul(w, x.data(), n, bias.data(), got_n.data());
        for (int64_t i = 0; i < n * out; ++i)
          EXPECT_NEAR(got_n[static_cast<size_t>(i)], want[static_cast<size_t>(i)], kRelTol * mag[static_cast<size_t>(i)]) << "matmul " << i;
      });
    }
}

TEST(LinearKernels, RoundToNearestQuantizationOfDenseLayers) {
  const int64_t out = 37, in = 333;
  const std::vector<float> wf = test::random_activations(out * in, 600);
  std::vector<uint16_t> h(wf.size());
  for (size_t i = 0; i < wf.size(); ++i) h[i] = f32_to_f16(wf[i]);
  const PackedLinear dense = pack_dense(h.data(), DType::F16, out, in);
  const std::vector<float> exact = dequantize(dense);
  for (int bits : {4, 8}) {
    SCOPED_TRACE(::testing::Message() << bits << " bits");
    const PackedLinear q = quantize_dense_rtn(dense, bits);
    EXPECT_EQ(q.uniform_zero, 1 << (bits - 1));
    const std::vector<float> deq = dequantize(q);
    // Each weight moves by at most half a step of its block: max|w| / (2^(bits−1) − 1) / 2 (+ the fp16 scale's rounding).
    int64_t bad = 0;
    for (int64_t o = 0; o < out; ++o)
      for (int64_t b = 0; b * 32 < in; ++b) {
        float amax = 0.0f;
        for (int64_t i = b * 32; i < std::min(in, b * 32 + 32); ++i) amax = std::max(amax, std::fabs(exact[static_cast<size_t>(o * in + i)]));
        const double half_step = amax / ((1 << (bits - 1)) - 1) / 2.0 * (1 + 2e-3);
        for (int64_t i = b * 32; i < std::min(in, b * 32 + 32); ++i)
          if (!(std::fabs(deq[static_cast<size_t>(o * in + i)] - exact[static_cast<size_t>(o * in + i)]) <= half_step)) ++bad;
      }
    EXPECT_EQ(bad, 0);
    const std::vector<float> x = test::random_activations(in, 601);
    std::vector<float> want(static_cast<size_t>(out));
    matvec_reference(q, x.data(), nullptr, want.data());
    std::vector<double> mag(static_cast<size_t>(out), 0.0);
    const int zero = 1 << (bits - 1);
    for (int64_t o = 0; o < out; ++o)
      for (int64_t i = 0; i < in; ++i) {  // |s|·(code + zero)·|x| ≤ (|w| + 2·zero·|s|)·|x|
        const double scale = std::fabs(f16_to_f32(q.scales.get()[o * q.n_blocks + i / 32]));
        mag[static_cast<size_t>(o)] +=
            (std::fabs(deq[static_cast<size_t>(o * in + i)]) + 2.0 * zero * scale) * std::fabs(x[static_cast<size_t>(i)]);
      }
    for_each_path([&](SimdPath) {
      std::vector<float> got(static_cast<size_t>(out), NAN);
      matvec(q, x.data(), nullptr, got.data());
      expect_close(got, want, mag, out, "matvec");
    });
  }
  const std::string msg = test::error_of([&] { quantize_dense_rtn(dense, 3); });
  EXPECT_NE(msg.find("3-bit"), std::string::npos) << msg;
}

// A NaN or inf activation must not vanish in the int8 quantization.
TEST(LinearKernels, NonFiniteActivationsReachTheOutput) {
  const test::IntegerLayer l = test::random_layer(4, 40, 96, 32, false, Grouping::kContiguous, 700);
  const PackedLinear w = pack_gptq(test::pack_words(l).view(l));
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    std::vector<float> x = test::random_activations(6 * l.in, 701);
    x[static_cast<size_t>(l.in + 40)] = bad;  // token 1, block 1
    for_each_path([&](SimdPath) {
      std::vector<float> y(static_cast<size_t>(l.out));
      matvec(w, x.data() + l.in, nullptr, y.data());
      for (float v : y) EXPECT_TRUE(std::isnan(v)) << "matvec gave " << v;
      std::vector<float> ym(static_cast<size_t>(6 * l.out));
      matmul(w, x.data(), 6, nullptr, ym.data());
      for (int64_t i = 0; i < 6 * l.out; ++i)
        EXPECT_EQ(std::isnan(ym[static_cast<size_t>(i)]), i / l.out == 1) << "matmul output " << i;
    });
  }
}

}  // namespace
}  // namespace slmkit::runtime
