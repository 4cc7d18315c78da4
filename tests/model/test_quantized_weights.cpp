// GPTQ packing (AutoGPTQ "gptq" v1 layout) against hand-computed words, exact
// round trips, dequantization against a naive loop, and the quantized Linear.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "core/error.h"
#include "model/linear.h"
#include "model/quantized_weights.h"

namespace slmkit {
namespace {

// A word as the format stores it: the unsigned bit pattern reinterpreted as int32.
int32_t word(uint32_t bits) { return static_cast<int32_t>(bits); }

at::Tensor ints(const std::vector<int32_t>& v, std::vector<int64_t> shape) {
  return at::tensor(v, at::kInt).view(shape).clone();
}

// One group per row (group_size = in), given codes [out, in] and zeros [out].
IntegerWeights per_row(int bits, const at::Tensor& codes, const at::Tensor& zeros, bool sym = false) {
  IntegerWeights w;
  w.bits = bits;
  w.group_size = codes.size(1);
  w.symmetric = sym;
  w.codes = codes;
  w.scales = at::full({codes.size(0), 1}, 0.5, at::kFloat);
  w.zeros = zeros.view({-1, 1});
  w.g_idx = at::zeros({codes.size(1)}, at::kInt);
  return w;
}

std::vector<int32_t> words_of(const at::Tensor& t) {
  const at::Tensor c = t.contiguous();
  return std::vector<int32_t>(c.data_ptr<int32_t>(), c.data_ptr<int32_t>() + c.numel());
}

// Random codes, zeros in [1, 2^bits] (what v1 can store), scales, and either
// contiguous or act-order (permuted) g_idx.
IntegerWeights random_weights(int bits, int64_t out, int64_t in, int64_t group, bool act_order, uint64_t seed) {
  at::manual_seed(seed);
  const int64_t levels = int64_t{1} << bits, groups = (in + group - 1) / group;
  IntegerWeights w;
  w.bits = bits;
  w.group_size = group;
  w.codes = at::randint(0, levels, {out, in}, at::kInt);
  w.zeros = at::randint(1, levels + 1, {out, groups}, at::kInt);
  w.scales = at::rand({out, groups}, at::kFloat) * 0.1 + 1e-3;
  at::Tensor g = at::floor_divide(at::arange(in, at::kLong), group);
  if (act_order) g = g.index_select(0, at::randperm(in, at::kLong));  // g_idx[perm[j]] = j / group
  w.g_idx = g.to(at::kInt);
  return w;
}

// w[o, i] = scale[o, g] · (code[o, i] − zero[o, g]), g = g_idx[i], one element at a time.
at::Tensor naive_dequantize(const IntegerWeights& w) {
  const int64_t out = w.out_features(), in = w.in_features();
  at::Tensor r = at::empty({out, in}, at::kFloat);
  auto c = w.codes.accessor<int32_t, 2>();
  auto z = w.zeros.accessor<int32_t, 2>();
  auto s = w.scales.accessor<float, 2>();
  auto g = w.g_idx.accessor<int32_t, 1>();
  auto o_ = r.accessor<float, 2>();
  for (int64_t o = 0; o < out; ++o)
    for (int64_t i = 0; i < in; ++i) o_[o][i] = s[o][g[i]] * static_cast<float>(c[o][i] - z[o][g[i]]);
  return r;
}

void expect_error(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one containing \"" << needle << "\"";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(GptqPacking, FourBitByHand) {
  // in = 8, out = 2. Column 0 holds codes 0..7, column 1 codes 8..15. Input i of
  // a column goes to nibble i of the word (LSB first), so column 0 reads
  // 0x76543210 and column 1 0xFEDCBA98. qweight is [8·4/32, 2] = [1, 2].
  const at::Tensor codes = ints({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, {2, 8});
  // zeros 1 and 16 are stored as 0 and 15, packed along the output dim: output
  // 0 in nibble 0, output 1 in nibble 1, the 6 nibbles of padding zero: 0x000000F0.
  const QuantizedWeights q = pack_gptq(per_row(4, codes, ints({1, 16}, {2})));
  ASSERT_EQ(q.qweight.sizes().vec(), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(words_of(q.qweight), (std::vector<int32_t>{word(0x76543210u), word(0xFEDCBA98u)}));
  ASSERT_EQ(q.qzeros.sizes().vec(), (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(words_of(q.qzeros), (std::vector<int32_t>{word(0x000000F0u)}));
  EXPECT_EQ(q.scales.scalar_type(), at::kHalf);
  EXPECT_EQ(q.scales.sizes().vec(), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(words_of(q.g_idx), std::vector<int32_t>(8, 0));
}

TEST(GptqPacking, SymmetricFourBitZerosAre0x77777777) {
  // Symmetric 4-bit: zero 8, stored 7 in every nibble. out = 16 → 2 words per group.
  IntegerWeights w = random_weights(4, 16, 64, 32, false, 1);
  w.symmetric = true;
  w.zeros = at::full({16, 2}, 8, at::kInt);
  const QuantizedWeights q = pack_gptq(w);
  ASSERT_EQ(q.qzeros.sizes().vec(), (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(words_of(q.qzeros), std::vector<int32_t>(4, word(0x77777777u)));
}

TEST(GptqPacking, EightBitByHand) {
  // Four 8-bit codes per word, input 0 in the low byte: 0x01, 0x80, 0xFF, 0x12 → 0x12FF8001.
  // Zero 129 is stored as 128 = 0x80 in the low byte of the single qzeros word.
  const QuantizedWeights q = pack_gptq(per_row(8, ints({0x01, 0x80, 0xFF, 0x12}, {1, 4}), ints({129}, {1})));
  EXPECT_EQ(words_of(q.qweight), (std::vector<int32_t>{word(0x12FF8001u)}));
  EXPECT_EQ(words_of(q.qzeros), (std::vector<int32_t>{word(0x00000080u)}));
}

TEST(GptqPacking, TwoBitByHand) {
  // 16 codes per word, input j at bits 2j. Byte 0 holds inputs 0..3 = 0,1,2,3:
  // 0b11'10'01'00 = 0xE4; byte 1 inputs 3,2,1,0: 0b00'01'10'11 = 0x1B; byte 2
  // four 0s; byte 3 four 3s = 0xFF. Word: 0xFF001BE4.
  const at::Tensor codes = ints({0, 1, 2, 3, 3, 2, 1, 0, 0, 0, 0, 0, 3, 3, 3, 3}, {1, 16});
  const QuantizedWeights q = pack_gptq(per_row(2, codes, ints({2}, {1})));
  EXPECT_EQ(words_of(q.qweight), (std::vector<int32_t>{word(0xFF001BE4u)}));
  EXPECT_EQ(words_of(q.qzeros), (std::vector<int32_t>{word(0x00000001u)}));  // zero 2 → stored 1
}

TEST(GptqPacking, ThreeBitStraddlesWordsByHand) {
  // A 32 × 1 column at 3 bits fills three words. Codes k % 8, except input 10 = 5
  // and input 21 = 6, the two values AutoGPTQ's pack() splits across words.
  // Word 0: inputs 0..7 = 0..7 are octal 76543210 = 0xFAC688 in bits 0..23;
  //   input 8 (0) at bits 24..26, input 9 (1) at bit 27 → 0x08000000; input 10
  //   (0b101) puts its low two bits 01 at bits 30..31 → 0x40000000. = 0x48FAC688.
  // Word 1: bit 0 = input 10's high bit (1); inputs 11..20 = 3,4,5,6,7,0,1,2,3,4 at
  //   bits 1 + 3j: 0x6 + 0x40 + 0x280 + 0x1800 + 0xE000 + 0x80000 + 0x800000 +
  //   0x6000000 + 0x40000000 = 0x4688FAC6; input 21 (0b110) puts its low bit (0)
  //   at bit 31. = 0x4688FAC7.
  // Word 2: bits 0..1 = input 21's high bits (0b11); inputs 22..31 = 6,7,0,1,2,3,4,5,6,7
  //   at bits 2 + 3j: 0x18 + 0xE0 + 0x800 + 0x8000 + 0x60000 + 0x400000 + 0x2800000
  //   + 0x18000000 + 0xE0000000 = 0xFAC688F8. = 0xFAC688FB.
  std::vector<int32_t> v(32);
  for (int k = 0; k < 32; ++k) v[k] = k % 8;
  v[10] = 5;
  v[21] = 6;
  const QuantizedWeights q = pack_gptq(per_row(3, ints(v, {1, 32}), ints({4}, {1})));
  ASSERT_EQ(q.qweight.sizes().vec(), (std::vector<int64_t>{3, 1}));
  EXPECT_EQ(words_of(q.qweight), (std::vector<int32_t>{word(0x48FAC688u), word(0x4688FAC7u), word(0xFAC688FBu)}));
  EXPECT_EQ(words_of(q.qzeros), (std::vector<int32_t>{word(0x00000003u)}));
  EXPECT_TRUE(at::equal(unpack_gptq(q).codes, ints(v, {1, 32})));
}

TEST(GptqPacking, PartialWordsArePaddedWithZeroBits) {
  // in = 172 at 4 bits is 21.5 words: 22 rows, the upper half of the last word zero.
  // out = 13 at 4 bits: qzeros has ceil(52/32) = 2 words per group.
  const IntegerWeights w = random_weights(4, 13, 172, 32, false, 2);
  const QuantizedWeights q = pack_gptq(w);
  EXPECT_EQ(q.qweight.sizes().vec(), (std::vector<int64_t>{22, 13}));
  EXPECT_EQ(q.qzeros.sizes().vec(), (std::vector<int64_t>{6, 2}));
  EXPECT_EQ(q.scales.sizes().vec(), (std::vector<int64_t>{6, 13}));
  EXPECT_TRUE(at::bitwise_right_shift(q.qweight[21], 16).eq(0).all().item<bool>());
  EXPECT_TRUE(at::bitwise_right_shift(q.qzeros.select(1, 1), 20).eq(0).all().item<bool>());
}

TEST(GptqPacking, RoundTripsExactlyForEveryWidthAndShape) {
  struct Shape {
    int64_t out, in, group;
    bool act_order;
  };
  const std::vector<Shape> shapes = {{8, 64, 32, false}, {13, 172, 32, false}, {172, 64, 64, true},
                                     {5, 96, 96, false}, {7, 172, 32, true}};
  uint64_t seed = 10;
  for (int bits : {2, 3, 4, 8})
    for (const Shape& s : shapes) {
      SCOPED_TRACE(testing::Message() << bits << "-bit [" << s.out << ", " << s.in << "] g" << s.group
                                      << (s.act_order ? " act-order" : ""));
      const IntegerWeights w = random_weights(bits, s.out, s.in, s.group, s.act_order, seed++);
      const QuantizedWeights q = pack_gptq(w);
      EXPECT_EQ(q.qweight.size(0), (s.in * bits + 31) / 32);
      EXPECT_EQ(q.qzeros.size(1), (s.out * bits + 31) / 32);
      const IntegerWeights u = unpack_gptq(q);
      EXPECT_TRUE(at::equal(u.codes, w.codes));
      EXPECT_TRUE(at::equal(u.zeros, w.zeros));
      EXPECT_TRUE(at::equal(u.g_idx, w.g_idx));
      EXPECT_TRUE(at::equal(u.scales, w.scales.to(at::kHalf).to(at::kFloat)));
      const QuantizedWeights again = pack_gptq(u);
      EXPECT_TRUE(at::equal(again.qweight, q.qweight));
      EXPECT_TRUE(at::equal(again.qzeros, q.qzeros));
      EXPECT_TRUE(at::equal(again.scales, q.scales));
      EXPECT_TRUE(at::equal(again.g_idx, q.g_idx));
    }
}

TEST(GptqPacking, DequantizeMatchesNaiveFormula) {
  for (int bits : {2, 3, 4, 8}) {
    SCOPED_TRACE(bits);
    IntegerWeights w = random_weights(bits, 11, 172, 32, true, 40 + bits);
    EXPECT_TRUE(at::equal(w.dequantize(), naive_dequantize(w)));
    const QuantizedWeights q = pack_gptq(w);
    w.scales = w.scales.to(at::kHalf).to(at::kFloat);  // the format stores fp16 scales
    const at::Tensor ref = naive_dequantize(w);
    EXPECT_TRUE(at::equal(q.dequantize(), ref));
    EXPECT_TRUE(at::equal(q.dequantize(at::kHalf), ref.to(at::kHalf)));
    EXPECT_TRUE(at::equal(q.dequantize(at::kBFloat16), ref.to(at::kBFloat16)));
    EXPECT_EQ(q.storage_bytes(), q.qweight.numel() * 4 + q.qzeros.numel() * 4 + q.scales.numel() * 2 + 172 * 4);
  }
}

TEST(GptqPacking, RefusesWhatTheFormatCannotHold) {
  const IntegerWeights good = random_weights(4, 8, 64, 32, false, 3);
  IntegerWeights w = good;
  w.bits = 5;
  expect_error([&] { pack_gptq(w); }, "5-bit weights cannot be stored in the GPTQ format");
  w = good;
  w.zeros = w.zeros.clone();
  w.zeros[0][0] = 0;
  expect_error([&] { pack_gptq(w); }, "a zero point of 0 cannot be stored");
  w = good;
  w.codes = w.codes.clone();
  w.codes[1][2] = 16;
  expect_error([&] { pack_gptq(w); }, "codes must lie in [0, 15]");
  w = good;
  w.group_size = 16;
  expect_error([&] { pack_gptq(w); }, "expected ceil(64 / 16) = 4");
  w = good;
  w.g_idx = at::full({64}, 2, at::kInt);
  expect_error([&] { pack_gptq(w); }, "g_idx must lie in [0, 2)");
  w = good;
  w.symmetric = true;
  expect_error([&] { pack_gptq(w); }, "every zero point equal to 8");
  w = good;
  w.scales = at::full({8, 2}, 1e6, at::kFloat);
  expect_error([&] { pack_gptq(w); }, "finite in float16");
  w = good;
  w.scales = at::ones({8, 3}, at::kFloat);
  expect_error([&] { pack_gptq(w); }, "zeros has shape [8, 2], expected [8, 3]");
}

TEST(QuantizedLinear, ForwardDequantizesToTheInputDtype) {
  const QuantizedWeights q = pack_gptq(random_weights(4, 12, 64, 32, false, 5));
  at::manual_seed(6);
  Linear l{q, at::randn({12}, at::kFloat)};
  EXPECT_FALSE(l.is_dense());
  EXPECT_TRUE(l.is_quantized());
  EXPECT_EQ(l.in_features(), 64);
  EXPECT_EQ(l.out_features(), 12);
  const at::Tensor x = at::randn({2, 3, 64}, at::kFloat);
  EXPECT_TRUE(at::equal(l.forward(x), at::linear(x, q.dequantize(at::kFloat), l.bias)));
  EXPECT_EQ(l.dense_weight().scalar_type(), at::kFloat);
  EXPECT_TRUE(at::equal(l.dense_weight(), q.dequantize()));
  l.bias = l.bias.to(at::kBFloat16);
  EXPECT_EQ(l.forward(x.to(at::kBFloat16)).scalar_type(), at::kBFloat16);
  EXPECT_EQ(l.parameter_count(), 12 * 64 + 12);
  EXPECT_EQ(l.storage_bytes(), q.storage_bytes() + 12 * 2);
  const Linear dense = make_dense_linear(at::zeros({12, 64}, at::kBFloat16));
  EXPECT_EQ(dense.storage_bytes(), 12 * 64 * 2);
  EXPECT_EQ(dense.parameter_count(), 12 * 64);
}

}  // namespace
}  // namespace slmkit
