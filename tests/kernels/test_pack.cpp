// pack_gptq / pack_dense: hand-built GPTQ words → known weights, random layers
// of every bit width → exact dequantization, layout properties, input errors.
#include <gtest/gtest.h>

#include <cstring>

#include "kernels/gptq_fixture.h"
#include "test_util.h"

namespace slmkit::runtime {
namespace {

using test::Grouping;

TensorView view_of(DType dt, std::vector<int64_t> shape, const void* data) {
  TensorView v;
  v.dtype = dt;
  v.shape = std::move(shape);
  v.data = static_cast<const uint8_t*>(data);
  return v;
}

// 4-bit, 8 inputs, 2 outputs, one group. qweight column 0 holds codes 0..7
// (nibble i = code of input i), column 1 codes 8..15; qzeros stores zero − 1 =
// 7 (output 0) and 3 (output 1) in one word; scales 0.5 and 2.0.
TEST(PackGptq, HandBuilt4BitWordsGiveKnownWeights) {
  const int32_t qweight[2] = {0x76543210, static_cast<int32_t>(0xFEDCBA98u)};
  const int32_t qzeros[1] = {0x37};
  const uint16_t scales[2] = {0x3800, 0x4000};  // 0.5, 2.0
  const int32_t g_idx[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  const TensorView qw = view_of(DType::I32, {1, 2}, qweight), qz = view_of(DType::I32, {1, 1}, qzeros),
                   sc = view_of(DType::F16, {1, 2}, scales), gi = view_of(DType::I32, {8}, g_idx);
  for (const TensorView* g : {&gi, static_cast<const TensorView*>(nullptr)}) {
    const PackedLinear w = pack_gptq(qw, qz, sc, g, 4, 0);
    ASSERT_EQ(w.in_features, 8);
    ASSERT_EQ(w.out_features, 2);
    EXPECT_EQ(w.format, WeightFormat::kInt4);
    const std::vector<float> d = dequantize(w);
    for (int i = 0; i < 8; ++i) {
      EXPECT_EQ(d[static_cast<size_t>(i)], 0.5f * static_cast<float>(i - 8)) << "output 0, input " << i;
      EXPECT_EQ(d[static_cast<size_t>(8 + i)], 2.0f * static_cast<float>(8 + i - 4)) << "output 1, input " << i;
    }
    // A one-hot input quantizes exactly (code 127, scale 1/127): y is the weight column.
    for (int j = 0; j < 8; ++j) {
      std::vector<float> x(8, 0.0f), y(2);
      x[static_cast<size_t>(j)] = 1.0f;
      matvec_reference(w, x.data(), nullptr, y.data());
      EXPECT_NEAR(y[0], 0.5 * (j - 8), 1e-6);
      EXPECT_NEAR(y[1], 2.0 * (4 + j), 1e-5);
    }
  }
}

// 8-bit act-order: codes 10, 200, 30, 255 in one word; g_idx [1, 0, 1, 0];
// group 0 zero 128 scale 0.25, group 1 zero 1 scale 1.
TEST(PackGptq, HandBuilt8BitActOrderGivesKnownWeights) {
  const int32_t qweight[1] = {static_cast<int32_t>(10u | 200u << 8 | 30u << 16 | 255u << 24)};
  const int32_t qzeros[2] = {127, 0};
  const uint16_t scales[2] = {0x3400, 0x3C00};  // 0.25, 1.0
  const int32_t g_idx[4] = {1, 0, 1, 0};
  const PackedLinear w = pack_gptq(view_of(DType::I32, {1, 1}, qweight), view_of(DType::I32, {2, 1}, qzeros),
                                   view_of(DType::F16, {2, 1}, scales), nullptr, 8, 2);
  // Without g_idx the map is contiguous (i / 2): a different matrix.
  EXPECT_EQ(dequantize(w), (std::vector<float>{0.25f * (10 - 128), 0.25f * (200 - 128), 1.0f * (30 - 1), 1.0f * (255 - 1)}));
  const TensorView gi = view_of(DType::I32, {4}, g_idx);
  const PackedLinear a = pack_gptq(view_of(DType::I32, {1, 1}, qweight), view_of(DType::I32, {2, 1}, qzeros),
                                   view_of(DType::F16, {2, 1}, scales), &gi, 8, 2);
  EXPECT_EQ(a.format, WeightFormat::kInt8);
  EXPECT_FALSE(a.in_index.empty()) << "act-order columns are permuted into group order";
  EXPECT_EQ(dequantize(a), (std::vector<float>{9.0f, 18.0f, 29.0f, 31.75f}));
}

TEST(PackGptq, EveryBitWidthAndGroupingDequantizesExactly) {
  uint32_t seed = 1;
  for (int bits : {2, 3, 4, 8})
    for (const auto& [out, in, gs] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
             {1, 1, 32}, {7, 33, 32}, {33, 127, 128}, {31, 4099, 128}, {5, 100, 48}, {3, 31, 0}, {9, 96, 1}})
      for (Grouping grouping : {Grouping::kContiguous, Grouping::kActOrder})
        for (bool sym : {false, true}) {
          const test::IntegerLayer l = test::random_layer(bits, out, in, gs, sym, grouping, ++seed);
          const test::GptqWords words = test::pack_words(l);
          const PackedLinear w = pack_gptq(words.view(l));
          SCOPED_TRACE(::testing::Message() << bits << "-bit [" << out << ", " << in << "] group " << gs
                                            << (grouping == Grouping::kActOrder ? " act-order" : "")
                                            << (sym ? " sym" : " asym"));
          EXPECT_EQ(w.k_padded % 64, 0);
          EXPECT_GE(w.k_padded, in);
          EXPECT_EQ(w.uniform_zero != 0, w.zeros == nullptr);
          if (sym) {
            EXPECT_EQ(w.uniform_zero, 1 << (bits - 1));
          }
          const std::vector<float> d = dequantize(w);
          int64_t bad = 0;
          for (int64_t o = 0; o < out; ++o)
            for (int64_t i = 0; i < in; ++i)
              if (d[static_cast<size_t>(o * in + i)] != static_cast<float>(l.weight(o, i))) ++bad;
          EXPECT_EQ(bad, 0);
        }
}

TEST(PackGptq, LayoutOfTinyLlamaShapes) {
  // Contiguous g32 with in a multiple of 64: packed order is the input order.
  const test::IntegerLayer l = test::random_layer(4, 64, 2048, 32, true, Grouping::kContiguous, 7);
  const PackedLinear w = pack_gptq(test::pack_words(l).view(l));
  EXPECT_TRUE(w.in_index.empty());
  EXPECT_EQ(w.k_padded, 2048);
  EXPECT_EQ(w.n_blocks, 64);
  EXPECT_EQ(w.code_row_bytes, 1024);
  // Symmetric: no zero-point storage, 4.5 bits per weight like llama.cpp's Q4_0.
  EXPECT_EQ(w.weight_bytes(), 64 * (1024 + 64 * 2));
  const test::IntegerLayer a = test::random_layer(4, 64, 2048, 32, false, Grouping::kContiguous, 8);
  const PackedLinear wa = pack_gptq(test::pack_words(a).view(a));
  EXPECT_EQ(wa.weight_bytes(), 64 * (1024 + 64 * 2 + 32)) << "asymmetric: 4 more bits per group";
  // int8: one byte per code.
  const test::IntegerLayer b = test::random_layer(8, 8, 2048, 128, true, Grouping::kContiguous, 9);
  EXPECT_EQ(pack_gptq(test::pack_words(b).view(b)).weight_bytes(), 8 * (2048 + 64 * 2));
}

TEST(PackGptq, RejectsInconsistentTensors) {
  const test::IntegerLayer l = test::random_layer(4, 8, 64, 32, false, Grouping::kContiguous, 3);
  test::GptqWords words = test::pack_words(l);
  words.g_idx[5] = 2;  // only groups 0 and 1 exist
  std::string msg = test::error_of([&] { pack_gptq(words.view(l)); });
  EXPECT_NE(msg.find("g_idx[5] = 2"), std::string::npos) << msg;
  runtime::GptqTensors t = words.view(l);
  t.bits = 5;
  msg = test::error_of([&] { pack_gptq(t); });
  EXPECT_NE(msg.find("5-bit"), std::string::npos) << msg;
  words = test::pack_words(l);
  const TensorView qw = view_of(DType::I32, {7, 8}, words.qweight.data());  // 64 4-bit inputs need 8 rows
  const TensorView qz = view_of(DType::I32, {2, 1}, words.qzeros.data());
  const TensorView sc = view_of(DType::F16, {2, 8}, words.scales.data());
  const TensorView gi = view_of(DType::I32, {64}, words.g_idx.data());
  msg = test::error_of([&] { pack_gptq(qw, qz, sc, &gi, 4); });
  EXPECT_NE(msg.find("qweight has shape [7, 8], expected [8, 8]"), std::string::npos) << msg;
  const TensorView sc32 = view_of(DType::F32, {2, 8}, words.scales.data());
  msg = test::error_of([&] { pack_gptq(view_of(DType::I32, {8, 8}, words.qweight.data()), qz, sc32, &gi, 4); });
  EXPECT_NE(msg.find("scales must be a 2-D F16 tensor"), std::string::npos) << msg;
}

TEST(PackDense, BorrowsOrCopiesAndKeepsStorageType) {
  std::vector<uint16_t> h = {f32_to_f16(1.5f), f32_to_f16(-2.0f), f32_to_f16(0.25f), f32_to_f16(4.0f)};
  TensorView v = view_of(DType::F16, {2, 2}, h.data());
  const PackedLinear borrowed = pack_dense(v);
  EXPECT_EQ(borrowed.dense, h.data());
  EXPECT_EQ(borrowed.weight_bytes(), 8);
  const PackedLinear copied = pack_dense(h.data(), DType::F16, 2, 2);
  EXPECT_NE(copied.dense, static_cast<const void*>(h.data()));
  EXPECT_EQ(dequantize(copied), (std::vector<float>{1.5f, -2.0f, 0.25f, 4.0f}));
  const std::string msg = test::error_of([&] { pack_dense(view_of(DType::I8, {2, 2}, h.data())); });
  EXPECT_NE(msg.find("I8"), std::string::npos) << msg;
}

}  // namespace
}  // namespace slmkit::runtime
