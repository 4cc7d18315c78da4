// The 32-element block types Q4_0, Q4_1, Q5_0 and Q8_0: llama.cpp's reference
// quantizers (quantize_row_*_ref, what llama-quantize runs without an imatrix),
// its importance-weighted ones (quantize_row_*_impl, with an imatrix) and the
// dequantizers. Compiled with -ffp-contract=off (see ggml_fit.h).
#include <algorithm>
#include <cmath>

#include "core/dtype.h"
#include "io/ggml_fit.h"

namespace slmkit::ggml_detail {
namespace {

// importance[j] · sqrt(sigma2 + x[j]²) for one block.
void block_weights(const float* x, const float* importance, float sigma2, float* w) {
  for (int j = 0; j < kQK; ++j) w[j] = importance[j] * std::sqrt(sigma2 + x[j] * x[j]);
}

// Byte j: code j in the low nibble, code j + 16 in the high nibble.
template <typename Code>
void pack_nibbles(const Code* L, uint8_t qs[16]) {
  for (int j = 0; j < kQK / 2; ++j) qs[j] = static_cast<uint8_t>((L[j] & 0xF) | ((L[j + kQK / 2] & 0xF) << 4));
}

}  // namespace

void quantize_q4_0(const float* x, int64_t n_blocks, const float* importance, uint8_t* out) {
  const float sigma2 = importance != nullptr ? row_sigma2(x, n_blocks * kQK) : 0.0f;
  for (int64_t b = 0; b < n_blocks; ++b, x += kQK, out += sizeof(BlockQ4_0)) {
    BlockQ4_0 block{};
    if (importance != nullptr) {
      float w[kQK];
      int8_t L[kQK];
      block_weights(x, importance + b * kQK, sigma2, w);
      block.d = f32_to_f16(fit_symmetric_scale(kQK, 8, x, w, L));
      pack_nibbles(L, block.qs);
      store_block(block, out);
      continue;
    }
    float amax = 0.0f, max = 0.0f;  // largest |x| and its signed value
    for (int j = 0; j < kQK; ++j) {
      if (amax < std::fabs(x[j])) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    // d is negative when the extreme is positive, so the extreme lands on code 0
    // (value −8·d) and the range [−8, 7] is used asymmetrically, as llama.cpp does.
    const float d = max / -8;
    const float inv_d = d != 0.0f ? 1.0f / d : 0.0f;
    block.d = f32_to_f16(d);
    for (int j = 0; j < kQK / 2; ++j) {
      const int lo = truncated_code(x[j] * inv_d + 8.5f, 15);
      const int hi = truncated_code(x[j + kQK / 2] * inv_d + 8.5f, 15);
      block.qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
    store_block(block, out);
  }
}

void quantize_q4_1(const float* x, int64_t n_blocks, const float* importance, uint8_t* out) {
  const float sigma2 = importance != nullptr ? row_sigma2(x, n_blocks * kQK) : 0.0f;
  for (int64_t b = 0; b < n_blocks; ++b, x += kQK, out += sizeof(BlockQ4_1)) {
    BlockQ4_1 block{};
    if (importance != nullptr) {
      float w[kQK], neg_min = 0;
      uint8_t L[kQK];
      block_weights(x, importance + b * kQK, sigma2, w);
      block.d = f32_to_f16(fit_scale_and_min(kQK, 15, x, w, L, &neg_min, -0.9f, 0.05f, 36));
      block.m = f32_to_f16(-neg_min);
      pack_nibbles(L, block.qs);
      store_block(block, out);
      continue;
    }
    const auto [min_it, max_it] = std::minmax_element(x, x + kQK);
    const float min = *min_it, max = *max_it;
    const float d = (max - min) / 15;
    const float inv_d = d != 0.0f ? 1.0f / d : 0.0f;
    block.d = f32_to_f16(d);
    block.m = f32_to_f16(min);
    for (int j = 0; j < kQK / 2; ++j) {
      const int lo = truncated_code((x[j] - min) * inv_d + 0.5f, 15);
      const int hi = truncated_code((x[j + kQK / 2] - min) * inv_d + 0.5f, 15);
      block.qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
    store_block(block, out);
  }
}

// Q5_0: 5-bit codes q in [0, 31], x = d·(q − 16); the low nibbles as in Q4_0, the
// fifth bits in qh (bit j for element j, bit j + 16 for element j + 16).
void quantize_q5_0(const float* x, int64_t n_blocks, const float* importance, uint8_t* out) {
  const float sigma2 = importance != nullptr ? row_sigma2(x, n_blocks * kQK) : 0.0f;
  for (int64_t b = 0; b < n_blocks; ++b, x += kQK, out += sizeof(BlockQ5_0)) {
    BlockQ5_0 block{};
    int L[kQK];
    if (importance != nullptr) {
      float w[kQK];
      int8_t codes[kQK];
      block_weights(x, importance + b * kQK, sigma2, w);
      block.d = f32_to_f16(fit_symmetric_scale(kQK, 16, x, w, codes));
      std::copy(codes, codes + kQK, L);
    } else {
      float amax = 0.0f, max = 0.0f;
      for (int j = 0; j < kQK; ++j) {
        if (amax < std::fabs(x[j])) {
          amax = std::fabs(x[j]);
          max = x[j];
        }
      }
      const float d = max / -16;
      const float inv_d = d != 0.0f ? 1.0f / d : 0.0f;
      block.d = f32_to_f16(d);
      for (int j = 0; j < kQK; ++j) L[j] = truncated_code(x[j] * inv_d + 16.5f, 31);
    }
    uint32_t qh = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      block.qs[j] = static_cast<uint8_t>((L[j] & 0xF) | ((L[j + kQK / 2] & 0xF) << 4));
      qh |= static_cast<uint32_t>((L[j] >> 4) & 1) << j;
      qh |= static_cast<uint32_t>((L[j + kQK / 2] >> 4) & 1) << (j + kQK / 2);
    }
    std::memcpy(block.qh, &qh, sizeof(qh));
    store_block(block, out);
  }
}

void quantize_q8_0(const float* x, int64_t n_blocks, uint8_t* out) {
  for (int64_t b = 0; b < n_blocks; ++b, x += kQK, out += sizeof(BlockQ8_0)) {
    float amax = 0.0f;
    for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127;
    const float inv_d = d != 0.0f ? 1.0f / d : 0.0f;
    BlockQ8_0 block{};
    block.d = f32_to_f16(d);
    for (int j = 0; j < kQK; ++j)  // round half away from zero, as roundf
      block.qs[j] = static_cast<int8_t>(std::round(std::fmin(std::fmax(x[j] * inv_d, -128.0f), 127.0f)));
    store_block(block, out);
  }
}

void dequantize_q4_0(const uint8_t* in, int64_t n_blocks, float* y) {
  for (int64_t b = 0; b < n_blocks; ++b, in += sizeof(BlockQ4_0), y += kQK) {
    const auto block = load_block<BlockQ4_0>(in);
    const float d = f16_to_f32(block.d);
    for (int j = 0; j < kQK / 2; ++j) {
      y[j] = static_cast<float>((block.qs[j] & 0xF) - 8) * d;
      y[j + kQK / 2] = static_cast<float>((block.qs[j] >> 4) - 8) * d;
    }
  }
}

void dequantize_q4_1(const uint8_t* in, int64_t n_blocks, float* y) {
  for (int64_t b = 0; b < n_blocks; ++b, in += sizeof(BlockQ4_1), y += kQK) {
    const auto block = load_block<BlockQ4_1>(in);
    const float d = f16_to_f32(block.d), m = f16_to_f32(block.m);
    for (int j = 0; j < kQK / 2; ++j) {
      y[j] = static_cast<float>(block.qs[j] & 0xF) * d + m;
      y[j + kQK / 2] = static_cast<float>(block.qs[j] >> 4) * d + m;
    }
  }
}

void dequantize_q5_0(const uint8_t* in, int64_t n_blocks, float* y) {
  for (int64_t b = 0; b < n_blocks; ++b, in += sizeof(BlockQ5_0), y += kQK) {
    const auto block = load_block<BlockQ5_0>(in);
    const float d = f16_to_f32(block.d);
    uint32_t qh = 0;
    std::memcpy(&qh, block.qh, sizeof(qh));
    for (int j = 0; j < kQK / 2; ++j) {
      const int lo = (block.qs[j] & 0xF) | static_cast<int>(((qh >> j) & 1) << 4);
      const int hi = (block.qs[j] >> 4) | static_cast<int>(((qh >> (j + kQK / 2)) & 1) << 4);
      y[j] = static_cast<float>(lo - 16) * d;
      y[j + kQK / 2] = static_cast<float>(hi - 16) * d;
    }
  }
}

void dequantize_q8_0(const uint8_t* in, int64_t n_blocks, float* y) {
  for (int64_t b = 0; b < n_blocks; ++b, in += sizeof(BlockQ8_0), y += kQK) {
    const auto block = load_block<BlockQ8_0>(in);
    const float d = f16_to_f32(block.d);
    for (int j = 0; j < kQK; ++j) y[j] = static_cast<float>(block.qs[j]) * d;
  }
}

}  // namespace slmkit::ggml_detail
