// Exact encoders: integer grids (GPTQ/AWQ codes and scales) stored in ggml
// blocks without re-quantizing, and their inverse.
#include <string>

#include "core/dtype.h"
#include "core/error.h"
#include "io/ggml_fit.h"

namespace slmkit {

using namespace ggml_detail;

void encode_row_exact(GgmlType type, const int32_t* codes, const float* scales, const float* mins,
                      int64_t n, uint8_t* out) {
  const std::string_view name = ggml_type_name(type);
  SLMKIT_CHECK(type == GgmlType::Q4_0 || type == GgmlType::Q4_1 || type == GgmlType::Q8_0,
               "exact encoding into ", name, " is not supported (only q4_0, q4_1, q8_0)");
  ggml_row_bytes(type, n);
  const int lo = type == GgmlType::Q8_0 ? -128 : 0;
  const int hi = type == GgmlType::Q8_0 ? 127 : 15;
  for (int64_t i = 0; i < n; ++i)
    SLMKIT_CHECK(codes[i] >= lo && codes[i] <= hi, "exact encoding into ", name, ": code ",
                 codes[i], " at element ", i, " is outside [", lo, ", ", hi, "]");
  SLMKIT_ASSERT(type != GgmlType::Q4_1 || mins != nullptr, "q4_1 needs one min per block");
  for (int64_t b = 0; b < n / kQK; ++b, codes += kQK) {
    if (type == GgmlType::Q8_0) {
      BlockQ8_0 block{};
      block.d = f32_to_f16(scales[b]);
      for (int j = 0; j < kQK; ++j) block.qs[j] = static_cast<int8_t>(codes[j]);
      store_block(block, out + b * sizeof(BlockQ8_0));
      continue;
    }
    uint8_t qs[16];
    for (int j = 0; j < kQK / 2; ++j) qs[j] = static_cast<uint8_t>(codes[j] | (codes[j + kQK / 2] << 4));
    if (type == GgmlType::Q4_0) {
      BlockQ4_0 block{};
      block.d = f32_to_f16(scales[b]);
      std::memcpy(block.qs, qs, sizeof(qs));
      store_block(block, out + b * sizeof(BlockQ4_0));
    } else {
      BlockQ4_1 block{};
      block.d = f32_to_f16(scales[b]);
      block.m = f32_to_f16(mins[b]);
      std::memcpy(block.qs, qs, sizeof(qs));
      store_block(block, out + b * sizeof(BlockQ4_1));
    }
  }
}

void decode_row_exact(GgmlType type, const uint8_t* blocks, int64_t n, int32_t* codes,
                      float* scales, float* mins) {
  SLMKIT_CHECK(type == GgmlType::Q4_0 || type == GgmlType::Q4_1 || type == GgmlType::Q8_0,
               "exact decoding of ", ggml_type_name(type), " is not supported (only q4_0, q4_1, q8_0)");
  const size_t block_bytes = ggml_row_bytes(type, kQK);
  ggml_row_bytes(type, n);
  for (int64_t b = 0; b < n / kQK; ++b, codes += kQK, blocks += block_bytes) {
    if (type == GgmlType::Q8_0) {
      const auto block = load_block<BlockQ8_0>(blocks);
      scales[b] = f16_to_f32(block.d);
      for (int j = 0; j < kQK; ++j) codes[j] = block.qs[j];
      continue;
    }
    const uint8_t* qs = nullptr;
    BlockQ4_0 q4_0{};
    BlockQ4_1 q4_1{};
    if (type == GgmlType::Q4_0) {
      q4_0 = load_block<BlockQ4_0>(blocks);
      scales[b] = f16_to_f32(q4_0.d);
      qs = q4_0.qs;
    } else {
      q4_1 = load_block<BlockQ4_1>(blocks);
      scales[b] = f16_to_f32(q4_1.d);
      if (mins != nullptr) mins[b] = f16_to_f32(q4_1.m);
      qs = q4_1.qs;
    }
    for (int j = 0; j < kQK / 2; ++j) {
      codes[j] = qs[j] & 0xF;
      codes[j + kQK / 2] = qs[j] >> 4;
    }
  }
}

}  // namespace slmkit
