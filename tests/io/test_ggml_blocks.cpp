// ggml block codecs: byte-exact blocks computed by hand from llama.cpp's layouts
// (formats.md §4.4-4.5), the reference K-quant searches against bytes produced by
// llama.cpp itself, round-trip error bounds, and the exact (GPTQ grid) encoder.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "io/ggml_blocks.h"
#include "test_util.h"

namespace slmkit {
namespace {

std::string hex(const std::vector<uint8_t>& bytes) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  for (uint8_t b : bytes) {
    out += kDigits[b >> 4];
    out += kDigits[b & 0xF];
  }
  return out;
}

std::vector<uint8_t> quantize(GgmlType type, const std::vector<float>& x, const float* importance = nullptr) {
  std::vector<uint8_t> out(ggml_row_bytes(type, static_cast<int64_t>(x.size())));
  quantize_row(type, x.data(), static_cast<int64_t>(x.size()), out.data(), importance);
  return out;
}

std::vector<float> dequantize(GgmlType type, const std::vector<uint8_t>& blocks, int64_t n) {
  std::vector<float> out(static_cast<size_t>(n));
  dequantize_row(type, blocks.data(), n, out.data());
  return out;
}

using test::error_of;

std::vector<float> normal_row(int64_t n, uint32_t seed, float sigma = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> x(static_cast<size_t>(n));
  for (float& v : x) v = dist(rng);
  return x;
}

// x_j = j − 16 and x_j = j / 2 over one 32-element block (formats.md §4.5).
std::vector<float> centered_ramp() {
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[j] = static_cast<float>(j - 16);
  return x;
}
std::vector<float> half_ramp() {
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[j] = 0.5f * static_cast<float>(j);
  return x;
}

// A 256-value row of exact binary fractions (no libm involved, so the bytes
// cannot depend on the platform), and an importance vector for it.
std::vector<float> superblock_row() {
  std::vector<float> x(256);
  for (int i = 0; i < 256; ++i) x[i] = static_cast<float>((i * 37) % 101 - 50) / 16.0f;
  return x;
}
std::vector<float> superblock_importance() {
  std::vector<float> w(256);
  for (int i = 0; i < 256; ++i) w[i] = static_cast<float>(1 + i % 5);
  return w;
}

// ---------------------------------------------------------------- type table

TEST(GgmlBlocksTypes, TableMatchesGgml) {
  struct Expected {
    uint32_t id;
    const char* name;
    int64_t block_size;
    size_t block_bytes;
  };
  const Expected expected[] = {{0, "f32", 1, 4},     {1, "f16", 1, 2},      {30, "bf16", 1, 2},
                               {8, "q8_0", 32, 34},  {2, "q4_0", 32, 18},   {3, "q4_1", 32, 20},
                               {6, "q5_0", 32, 22},  {12, "q4_K", 256, 144}, {14, "q6_K", 256, 210}};
  for (const Expected& e : expected) {
    const GgmlTypeInfo* info = find_ggml_type(e.id);
    ASSERT_NE(info, nullptr) << e.name;
    EXPECT_EQ(info->name, e.name);
    EXPECT_EQ(info->block_size, e.block_size) << e.name;
    EXPECT_EQ(info->block_bytes, e.block_bytes) << e.name;
    EXPECT_TRUE(info->has_codec) << e.name;
  }
  EXPECT_EQ(find_ggml_type(13)->name, "q5_K");  // known, readable, no codec
  EXPECT_FALSE(find_ggml_type(13)->has_codec);
  for (uint32_t removed : {4u, 5u, 31u, 32u, 33u, 36u, 37u, 38u, 43u, 1000u})
    EXPECT_EQ(find_ggml_type(removed), nullptr) << removed;
  EXPECT_EQ(ggml_type_from_name("Q4_K"), GgmlType::Q4_K);
  EXPECT_EQ(ggml_type_from_name("bf16"), GgmlType::BF16);
  EXPECT_EQ(ggml_type_from_name("q4_2"), std::nullopt);
}

TEST(GgmlBlocksTypes, RowBytesNeedWholeBlocks) {
  EXPECT_EQ(ggml_row_bytes(GgmlType::F16, 3), 6u);
  EXPECT_EQ(ggml_row_bytes(GgmlType::Q4_0, 64), 36u);
  EXPECT_EQ(ggml_row_bytes(GgmlType::Q8_0, 4096), 128u * 34u);
  EXPECT_EQ(ggml_row_bytes(GgmlType::Q4_K, 512), 288u);
  EXPECT_EQ(ggml_row_bytes(GgmlType::Q6_K, 0), 0u);
  const std::string message = error_of([] { ggml_row_bytes(GgmlType::Q4_0, 33); });
  EXPECT_NE(message.find("q4_0"), std::string::npos) << message;
  EXPECT_NE(message.find("multiple of 32"), std::string::npos) << message;
  EXPECT_NE(error_of([] { ggml_row_bytes(GgmlType::Q6_K, 128); }).find("multiple of 256"), std::string::npos);
}

// ---------------------------------------------------------------- 32-element blocks, by hand

TEST(GgmlBlocksQ4_0, HandComputedBlock) {
  // max |x| is x_0 = −16, so d = −16 / −8 = 2 (fp16 0x4000) and q = x/2 + 8 rounded
  // half up: byte j holds element j (low) and j + 16 (high); x_31 = 15 → q = 16 → 15.
  EXPECT_EQ(hex(quantize(GgmlType::Q4_0, centered_ramp())), "0040809191a2a2b3b3c4c4d5d5e6e6f7f7f8");
  const std::vector<float> y = dequantize(GgmlType::Q4_0, quantize(GgmlType::Q4_0, centered_ramp()), 32);
  EXPECT_EQ(y[0], -16.0f);
  EXPECT_EQ(y[1], -14.0f);  // −15 rounds half up to code 1
  EXPECT_EQ(y[2], -14.0f);
  EXPECT_EQ(y[30], 14.0f);
  EXPECT_EQ(y[31], 14.0f);  // clamped at code 15
}

TEST(GgmlBlocksQ4_1, HandComputedBlock) {
  // min 0, max 15.5: d = 15.5/15 → fp16 0x3c22, m = 0, q_j = round(j/2 / d).
  const std::vector<uint8_t> block = quantize(GgmlType::Q4_1, half_ramp());
  EXPECT_EQ(hex(block), "223c000080809191a2a2b3b3c4c4d5d5e6e6f7f7");
  const float d = f16_to_f32(0x3c22);
  const std::vector<float> y = dequantize(GgmlType::Q4_1, block, 32);
  EXPECT_EQ(y[0], 0.0f);
  EXPECT_EQ(y[1], 0.0f * d + 0.0f);  // 0.5 / 1.033 = 0.48 → code 0
  EXPECT_EQ(y[31], 15.0f * d);
}

TEST(GgmlBlocksQ8_0, HandComputedBlock) {
  // d = 16/127 (fp16 0x3008); q_j = round((j − 16)·127/16), half away from zero.
  const std::vector<uint8_t> block = quantize(GgmlType::Q8_0, centered_ramp());
  EXPECT_EQ(hex(block), "083081899199a1a9b1b9c0c8d0d8e0e8f0f8000810182028303840474f575f676f77");
  const std::vector<float> y = dequantize(GgmlType::Q8_0, block, 32);
  EXPECT_EQ(y[0], -127.0f * f16_to_f32(0x3008));
  EXPECT_EQ(y[16], 0.0f);
}

TEST(GgmlBlocksQ5_0, HandComputedBlock) {
  // d = −16 / −16 = 1 (fp16 0x3c00), q_j = (int)(x_j + 16.5) = j: low nibbles as in
  // Q4_0 (byte j = j | j << 4), fifth bits set for elements 16..31 (qh = 0xffff0000).
  const std::vector<uint8_t> block = quantize(GgmlType::Q5_0, centered_ramp());
  EXPECT_EQ(hex(block), "003c0000ffff00112233445566778899aabbccddeeff");
  const std::vector<float> y = dequantize(GgmlType::Q5_0, block, 32);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], static_cast<float>(j - 16)) << j;  // every value exact
}

TEST(GgmlBlocksQ4_0, NibbleOrderIsSplitHalves) {
  // Not consecutive pairs: byte j = element j | element j + 16 << 4.
  std::vector<int32_t> codes(32);
  for (int j = 0; j < 32; ++j) codes[j] = j < 16 ? j : 15 - (j - 16);
  const float scale = 1.0f;
  std::vector<uint8_t> block(18);
  encode_row_exact(GgmlType::Q4_0, codes.data(), &scale, nullptr, 32, block.data());
  for (int j = 0; j < 16; ++j) EXPECT_EQ(block[2 + j], static_cast<uint8_t>(j | ((15 - j) << 4))) << j;
}

TEST(GgmlBlocksQ4_0, AllZeroBlock) {
  const std::vector<uint8_t> block = quantize(GgmlType::Q4_0, std::vector<float>(32, 0.0f));
  // d = 0 / −8 = −0 (fp16 0x8000, as llama.cpp stores it), every code 8.
  EXPECT_EQ(hex(block), "0080" + std::string(32, '8'));
  for (float y : dequantize(GgmlType::Q4_0, block, 32)) EXPECT_EQ(y, 0.0f);
}

// ---------------------------------------------------------------- K-quants

TEST(GgmlBlocksQ4_K, ScalePackingByHand) {
  const uint8_t scale[8] = {1, 2, 3, 4, 40, 50, 60, 63};
  const uint8_t min[8] = {0, 1, 2, 3, 17, 33, 48, 63};
  uint8_t packed[12];
  pack_q4_k_scales(scale, min, packed);
  // byte 0 = sc0 | (sc4 >> 4) << 6 = 1 | 2 << 6; byte 4 = m0 | (m4 >> 4) << 6 = 0 | 1 << 6;
  // byte 8 = (sc4 & 15) | (m4 & 15) << 4 = 8 | 1 << 4.
  EXPECT_EQ(hex(std::vector<uint8_t>(packed, packed + 12)), "81c2c3c44081c2c318120cff");
  uint8_t scale_back[8], min_back[8];
  unpack_q4_k_scales(packed, scale_back, min_back);
  for (int k = 0; k < 8; ++k) {
    EXPECT_EQ(scale_back[k], scale[k]) << k;
    EXPECT_EQ(min_back[k], min[k]) << k;
  }
}

TEST(GgmlBlocksQ4_K, ScalePackingRoundTripsEverySixBitValue) {
  for (int v = 0; v < 64; ++v) {
    uint8_t scale[8], min[8], packed[12], scale_back[8], min_back[8];
    for (int k = 0; k < 8; ++k) {
      scale[k] = static_cast<uint8_t>((v + 9 * k) % 64);
      min[k] = static_cast<uint8_t>((63 - v + 5 * k) % 64);
    }
    pack_q4_k_scales(scale, min, packed);
    unpack_q4_k_scales(packed, scale_back, min_back);
    for (int k = 0; k < 8; ++k) {
      ASSERT_EQ(scale_back[k], scale[k]);
      ASSERT_EQ(min_back[k], min[k]);
    }
  }
}

TEST(GgmlBlocksQ4_K, DequantizeByHand) {
  // d = 1, dmin = 0.5, the scales above, qs[i] = 7i mod 256 (formats.md §4.5).
  BlockQ4_K block{};
  block.d = f32_to_f16(1.0f);
  block.dmin = f32_to_f16(0.5f);
  const uint8_t scale[8] = {1, 2, 3, 4, 40, 50, 60, 63};
  const uint8_t min[8] = {0, 1, 2, 3, 17, 33, 48, 63};
  pack_q4_k_scales(scale, min, block.scales);
  for (int i = 0; i < 128; ++i) block.qs[i] = static_cast<uint8_t>(7 * i);
  std::vector<uint8_t> bytes(sizeof(block));
  std::memcpy(bytes.data(), &block, sizeof(block));
  const std::vector<float> y = dequantize(GgmlType::Q4_K, bytes, 256);
  EXPECT_EQ(y[0], 0.0f);      // sc0·(0 & 15) − 0.5·m0
  EXPECT_EQ(y[1], 7.0f);      // 1·7
  EXPECT_EQ(y[32], -0.5f);    // high nibble of byte 0 with sc1 = 2, m1 = 1: 2·0 − 0.5
  EXPECT_EQ(y[33], -0.5f);    // byte 1 = 7: high nibble 0
  EXPECT_EQ(y[100], 58.5f);   // chunk 1, byte 36 = 252: sc3·(252 >> 4) − 0.5·m3 = 4·15 − 1.5
  EXPECT_EQ(y[255], 409.5f);  // byte 127 = 889 mod 256 = 121: sc7·7 − 0.5·m7 = 441 − 31.5
}

TEST(GgmlBlocksQ6_K, DequantizeByHand) {
  // ql[i] = 5i, qh[i] = 3i, scales[i] = i − 8, d = 0.25 (formats.md §4.5).
  BlockQ6_K block{};
  for (int i = 0; i < 128; ++i) block.ql[i] = static_cast<uint8_t>(5 * i);
  for (int i = 0; i < 64; ++i) block.qh[i] = static_cast<uint8_t>(3 * i);
  for (int i = 0; i < 16; ++i) block.scales[i] = static_cast<int8_t>(i - 8);
  block.d = f32_to_f16(0.25f);
  std::vector<uint8_t> bytes(sizeof(block));
  std::memcpy(bytes.data(), &block, sizeof(block));
  // d is the last field.
  EXPECT_EQ(bytes[208], 0x00);
  EXPECT_EQ(bytes[209], 0x34);
  const std::vector<float> y = dequantize(GgmlType::Q6_K, bytes, 256);
  EXPECT_EQ(y[0], 64.0f);  // q = (0 | 0) − 32 = −32, sc0 = −8: 0.25·−8·−32
  EXPECT_EQ(y[17], -36.75f);
  EXPECT_EQ(y[40], -12.0f);
  EXPECT_EQ(y[70], 15.0f);
  EXPECT_EQ(y[100], 10.5f);
  EXPECT_EQ(y[255], 12.25f);
}

// Bytes written by llama.cpp's own quantizers (ggml d99724f, quantize_row_q4_K_ref,
// quantize_q4_K with an imatrix, and the Q6_K equivalents) for superblock_row().
TEST(GgmlBlocksKQuants, ReferenceSearchMatchesLlamaCpp) {
  const std::vector<float> x = superblock_row();
  const std::vector<float> w = superblock_importance();
  EXPECT_EQ(hex(quantize(GgmlType::Q4_K, x)),
            "de1e2c2afefffffcfffdfefecfdcfffea0156bc1278cd3489e045ab0167bc2378de349ae056ab1267cd2389de459af15268c"
            "e248ad0459b0157bd1379ce348ae046ac0267bd2379df359be156ac1268c9df359be157ac1268ce248ad0459b0157bd1379c"
            "e348ae046ac0267bd2379df3156ac1268cd2489df459b0157bc1378ce348ae046ab0267bd2379de359ae156a");
  EXPECT_EQ(hex(quantize(GgmlType::Q4_K, x, w.data())),
            "d51e462afffafffffefbfcfebfccefffb0157bd1278ce348ae046ac0167bd2379df359be056ac1268ce2389df459bf15268c"
            "d2489d0459b0157bc1378ce348ae046ab0267bd2379de359ae156ac1268c9df359be157ac1268ce248ad0459b0157bd1379c"
            "e348ae046ac0268bd2379df3156ac1268cd2489df459b0157bc1378ce348ae046ab0267bd2379de359ae156a");
  EXPECT_EQ(hex(quantize(GgmlType::Q6_K, x)),
            "d158bf37be25ad048b047bf37ad159d0c941ea63eb74fb741d951ea72fc841c9bf35ad169b048df26be069d147cf38bd1a92"
            "2c840d85ed77ff57d038b04aa22b67df58c139b22aa22b931c85fd76ee57ce5ad137b31a902c830f86ec78ff55d1c841da62"
            "eb63fc840d951ea63fb840c9d129b30b931c74fe86de67ff47d129b118b1c66cb11b6c861b71c61cb1c76cb22453f9248ef9"
            "138ef4538d2452f9248ed4a209d47e09a37e14a349d4ae09d77ec863be1463c9147ec923bec463bd1463807f897a867a8487"
            "7f737d7a81877c897592");
  EXPECT_EQ(hex(quantize(GgmlType::Q6_K, x, w.data())),
            "d158bf37be25ad048b047bf37ad159d0c941ea63eb74fb741d951ea72fc841c9bf35ad169c048cf27ae169d147cf38be0a92"
            "2c740d95ed77ff47e028b04a922b67df58c139b22aa22b931c85fd76ee57ce5ad137b31a902c830f86ec78ff55d1c841da62"
            "eb63fc840d951ea63fb840c9d129b30b931c74fe86de67ff47d129b118b1c66cb11b6c861b71c61cb1c76cb22453f9248ef9"
            "138ef4538d2452f9248ed4a209d47e09a37e14a349d4ae09d77ec863be1463c9147ec923bec463bd1463807f877b857a838b"
            "7f737c7a81887c897492");
}

TEST(GgmlBlocksQ6_K, AllZeroSuperBlockIsAllZeroBytes) {
  const std::vector<uint8_t> block = quantize(GgmlType::Q6_K, std::vector<float>(256, 0.0f));
  EXPECT_EQ(block, std::vector<uint8_t>(210, 0));
}

// ---------------------------------------------------------------- error bounds

TEST(GgmlBlocksRoundTrip, ThirtyTwoElementTypesStayWithinHalfAStep) {
  const int64_t n = 32 * 64;
  const std::vector<float> x = normal_row(n, 7, 0.02f);
  for (GgmlType type : {GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q8_0}) {
    const std::vector<uint8_t> blocks = quantize(type, x);
    const std::vector<float> y = dequantize(type, blocks, n);
    std::vector<int32_t> codes(n);
    std::vector<float> d(n / 32), m(n / 32);
    decode_row_exact(type, blocks.data(), n, codes.data(), d.data(), m.data());
    for (int64_t i = 0; i < n; ++i) {
      const float step = std::fabs(d[i / 32]);
      // Half a step from rounding, plus the fp16 rounding of d (≤ 2^-11 relative, times
      // the code) and of m; Q4_0's extreme positive value is clamped to code 15 (one step).
      float bound = 0.5f * step + step * 128 * std::ldexp(1.0f, -11);
      if (type == GgmlType::Q4_0) bound = step * 1.01f;
      if (type == GgmlType::Q4_1)
        bound += std::fabs(m[i / 32]) * std::ldexp(1.0f, -11) + 15 * step * std::ldexp(1.0f, -11);
      ASSERT_LE(std::fabs(x[i] - y[i]), bound) << ggml_type_name(type) << " element " << i;
    }
  }
}

TEST(GgmlBlocksRoundTrip, RelativeErrorPerType) {
  const int64_t n = 256 * 32;
  const std::vector<float> x = normal_row(n, 11, 0.05f);
  double sum_x2 = 0;
  for (float v : x) sum_x2 += double(v) * v;
  // Relative RMS error bounds with headroom over the values measured here (in
  // comments); a 4-bit grid over ~±3σ gives ≈ 6σ/15/√12 ≈ 0.1σ.
  const struct {
    GgmlType type;
    double max_relative_rms;
  } cases[] = {
      {GgmlType::F32, 0.0},
      {GgmlType::F16, 5e-4},   // 2.1e-4
      {GgmlType::BF16, 3e-3},  // 1.7e-3
      {GgmlType::Q8_0, 0.01},  // 0.0053
      {GgmlType::Q6_K, 0.03},  // 0.018
      {GgmlType::Q4_K, 0.11},  // 0.072
      {GgmlType::Q4_1, 0.12},  // 0.079
      {GgmlType::Q4_0, 0.13},  // 0.086
  };
  for (const auto& c : cases) {
    const std::vector<float> y = dequantize(c.type, quantize(c.type, x), n);
    double sum_e2 = 0;
    for (int64_t i = 0; i < n; ++i) sum_e2 += double(x[i] - y[i]) * (x[i] - y[i]);
    const double relative_rms = std::sqrt(sum_e2 / sum_x2);
    EXPECT_LE(relative_rms, c.max_relative_rms) << ggml_type_name(c.type);
  }
}

TEST(GgmlBlocksRoundTrip, ImportanceLowersWeightedErrorOnAverage) {
  const int64_t n = 256 * 64;
  const std::vector<float> x = normal_row(n, 3);
  std::vector<float> importance(n);
  std::mt19937 rng(5);
  std::exponential_distribution<float> dist(1.0f);
  for (float& w : importance) w = dist(rng) * dist(rng);  // heavy-tailed, like an imatrix
  for (GgmlType type : {GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q4_K, GgmlType::Q6_K}) {
    const auto weighted_error = [&](const std::vector<uint8_t>& blocks) {
      const std::vector<float> y = dequantize(type, blocks, n);
      double e = 0;
      for (int64_t i = 0; i < n; ++i) e += importance[i] * double(x[i] - y[i]) * (x[i] - y[i]);
      return e;
    };
    EXPECT_LT(weighted_error(quantize(type, x, importance.data())), weighted_error(quantize(type, x)))
        << ggml_type_name(type);
  }
}

TEST(GgmlBlocksRoundTrip, HalfAndBfloatAreElementwise) {
  const std::vector<float> x = {1.0f, -2.5f, 65504.0f, 1e-8f};
  EXPECT_EQ(hex(quantize(GgmlType::F16, x)), "003c00c1ff7b0000");    // 1e-8 underflows half
  EXPECT_EQ(hex(quantize(GgmlType::BF16, x)), "803f20c080472c32");  // 65504 rounds up to 65536
  EXPECT_EQ(dequantize(GgmlType::F16, quantize(GgmlType::F16, x), 4)[1], -2.5f);
  EXPECT_EQ(dequantize(GgmlType::F32, quantize(GgmlType::F32, x), 4), x);
}

// ---------------------------------------------------------------- exact encoder

TEST(GgmlBlocksExact, CodesAndScalesRoundTrip) {
  const int64_t n = 128;
  std::mt19937 rng(9);
  for (GgmlType type : {GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q8_0}) {
    const bool q8 = type == GgmlType::Q8_0;
    std::vector<int32_t> codes(n);
    for (int32_t& q : codes) q = q8 ? static_cast<int32_t>(rng() % 256) - 128 : static_cast<int32_t>(rng() % 16);
    std::vector<float> scales(n / 32), mins(n / 32);
    for (int64_t b = 0; b < n / 32; ++b) {  // fp16 numbers, as GPTQ scales are
      scales[b] = f16_to_f32(f32_to_f16(0.001f * static_cast<float>(b + 3)));
      mins[b] = f16_to_f32(f32_to_f16(-0.01f * static_cast<float>(b + 1)));
    }
    std::vector<uint8_t> blocks(ggml_row_bytes(type, n));
    encode_row_exact(type, codes.data(), scales.data(), mins.data(), n, blocks.data());

    std::vector<int32_t> codes_back(n);
    std::vector<float> scales_back(n / 32), mins_back(n / 32);
    decode_row_exact(type, blocks.data(), n, codes_back.data(), scales_back.data(), mins_back.data());
    EXPECT_EQ(codes_back, codes) << ggml_type_name(type);
    EXPECT_EQ(scales_back, scales) << ggml_type_name(type);
    if (type == GgmlType::Q4_1) {
      EXPECT_EQ(mins_back, mins);
    }

    // Dequantization is exactly the grid: GPTQ's s·(q − z) with z = 8 for Q4_0.
    const std::vector<float> y = dequantize(type, blocks, n);
    for (int64_t i = 0; i < n; ++i) {
      const float s = scales[i / 32];
      const float expected = type == GgmlType::Q4_0   ? static_cast<float>(codes[i] - 8) * s
                             : type == GgmlType::Q4_1 ? static_cast<float>(codes[i]) * s + mins[i / 32]
                                                      : static_cast<float>(codes[i]) * s;
      ASSERT_EQ(y[i], expected) << ggml_type_name(type) << " element " << i;
    }
  }
}

TEST(GgmlBlocksExact, RejectsCodesOutsideTheGrid) {
  std::vector<int32_t> codes(32, 3);
  codes[5] = 16;
  const float scale = 1.0f;
  std::vector<uint8_t> out(34);
  std::string message =
      error_of([&] { encode_row_exact(GgmlType::Q4_0, codes.data(), &scale, nullptr, 32, out.data()); });
  EXPECT_NE(message.find("code 16 at element 5 is outside [0, 15]"), std::string::npos) << message;
  codes[5] = -129;
  message = error_of([&] { encode_row_exact(GgmlType::Q8_0, codes.data(), &scale, nullptr, 32, out.data()); });
  EXPECT_NE(message.find("outside [-128, 127]"), std::string::npos) << message;
  message = error_of([&] { encode_row_exact(GgmlType::Q4_K, codes.data(), &scale, nullptr, 32, out.data()); });
  EXPECT_NE(message.find("not supported"), std::string::npos) << message;
}

// ---------------------------------------------------------------- bad input

TEST(GgmlBlocksErrors, NonFiniteInputIsRefused) {
  std::vector<float> x(32, 1.0f);
  x[3] = std::nanf("");
  std::vector<uint8_t> out(18);
  const std::string message = error_of([&] { quantize_row(GgmlType::Q4_0, x.data(), 32, out.data()); });
  EXPECT_NE(message.find("element 3 is nan"), std::string::npos) << message;
}

TEST(GgmlBlocksErrors, ImportanceOnlyWhereLlamaCppUsesIt) {
  const std::vector<float> x(32, 1.0f), w(32, 1.0f);
  std::vector<uint8_t> out(34);
  std::string message = error_of([&] { quantize_row(GgmlType::Q8_0, x.data(), 32, out.data(), w.data()); });
  EXPECT_NE(message.find("only used by q4_0, q4_1, q5_0, q4_K and q6_K"), std::string::npos) << message;
  std::vector<float> x256(256, 1.0f), w256(256, 1.0f);
  w256[5] = -1.0f;
  std::vector<uint8_t> block(144);
  message = error_of([&] { quantize_row(GgmlType::Q4_K, x256.data(), 256, block.data(), w256.data()); });
  EXPECT_NE(message.find("importance weight 5 is -1"), std::string::npos) << message;
}

TEST(GgmlBlocksErrors, TypesWithoutCodecSayWhich) {
  const std::vector<uint8_t> blocks(176, 0);
  std::vector<float> y(256);
  const std::string message = error_of([&] { dequantize_row(GgmlType::Q5_K, blocks.data(), 256, y.data()); });
  EXPECT_NE(message.find("q5_K: slmkit cannot decode it"), std::string::npos) << message;
}

}  // namespace
}  // namespace slmkit
