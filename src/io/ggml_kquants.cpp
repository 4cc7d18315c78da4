// The K-quant types Q4_K and Q6_K (256-element super-blocks): llama.cpp's
// reference quantizers, the importance-weighted variants llama-quantize runs with
// an imatrix, and the dequantizers. Compiled with -ffp-contract=off (ggml_fit.h).
#include <algorithm>
#include <cmath>

#include "core/dtype.h"
#include "io/ggml_fit.h"

namespace slmkit::ggml_detail {

// Q4_K super-block scales: 6-bit sc/m per 32-element sub-block relative to fp16
// d/dmin. Without importance: each sub-block's fit weighted by |x| + rms(x), then
// sc/m scaled so the largest is 63 (quantize_row_q4_K_ref). With importance: the
// weighted fit, and the 6-bit codes themselves fitted (quantize_row_q4_K_impl).
namespace {

void quantize_q4_k_block(const float* x, const float* importance, BlockQ4_K& block,
                         uint8_t L[kQK_K]) {
  constexpr int kSub = 8;
  float scales[kSub], mins[kSub], w[32];
  uint8_t sc[kSub], m[kSub];
  if (importance == nullptr) {
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < kSub; ++j) {
      const float* xs = x + 32 * j;
      float sum_x2 = 0;
      for (int l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
      const float av_x = std::sqrt(sum_x2 / 32);
      for (int l = 0; l < 32; ++l) w[l] = av_x + std::fabs(xs[l]);
      scales[j] = fit_scale_and_min(32, 15, xs, w, L + 32 * j, &mins[j], -1.0f, 0.1f, 20);
      if (scales[j] > max_scale) max_scale = scales[j];
      if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
    const float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
    for (int j = 0; j < kSub; ++j) {  // uint8 wrap then clamp, as llama.cpp
      sc[j] = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_scale * scales[j])));
      m[j] = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_min * mins[j])));
    }
    block.d = f32_to_f16(max_scale / 63.0f);
    block.dmin = f32_to_f16(max_min / 63.0f);
  } else {
    float sum_x2 = 0;
    for (int l = 0; l < kQK_K; ++l) sum_x2 += x[l] * x[l];
    const float sigma2 = 2 * sum_x2 / kQK_K;
    float sub_weight[kSub];
    for (int j = 0; j < kSub; ++j) {
      const float* xs = x + 32 * j;
      const float* qw = importance + 32 * j;
      for (int l = 0; l < 32; ++l) w[l] = qw[l] * std::sqrt(sigma2 + xs[l] * xs[l]);
      float sum_w = 0;
      for (int l = 0; l < 32; ++l) sum_w += w[l];
      sub_weight[j] = sum_w;
      scales[j] = fit_scale_and_min(32, 15, xs, w, L + 32 * j, &mins[j], -0.9f, 0.05f, 36);
    }
    block.d = f32_to_f16(fit_positive_scale(kSub, 63, scales, sub_weight, sc));
    block.dmin = f32_to_f16(fit_positive_scale(kSub, 63, mins, sub_weight, m));
  }
  pack_q4_k_scales(sc, m, block.scales);
}

}  // namespace

void quantize_q4_k(const float* x, int64_t n_blocks, const float* importance, uint8_t* out) {
  uint8_t L[kQK_K];
  for (int64_t b = 0; b < n_blocks; ++b, x += kQK_K, out += sizeof(BlockQ4_K)) {
    BlockQ4_K block{};
    quantize_q4_k_block(x, importance != nullptr ? importance + b * kQK_K : nullptr, block, L);
    // Re-round every element against the scales as stored (fp16 and 6-bit).
    uint8_t sc[8], m[8];
    unpack_q4_k_scales(block.scales, sc, m);
    for (int j = 0; j < 8; ++j) {
      const float d = f16_to_f32(block.d) * sc[j];
      if (d == 0.0f) continue;  // keeps the fit's codes, as llama.cpp
      const float dm = f16_to_f32(block.dmin) * m[j];
      for (int i = 0; i < 32; ++i)
        L[32 * j + i] = static_cast<uint8_t>(std::clamp(nearest_int((x[32 * j + i] + dm) / d), 0, 15));
    }
    for (int c = 0; c < 4; ++c)
      for (int l = 0; l < 32; ++l)
        block.qs[32 * c + l] = static_cast<uint8_t>(L[64 * c + l] | (L[64 * c + 32 + l] << 4));
    store_block(block, out);
  }
}

void quantize_q6_k(const float* x, int64_t n_blocks, const float* importance, uint8_t* out) {
  constexpr int kSub = 16;
  int8_t L[kQK_K];
  float scales[kSub];
  for (int64_t b = 0; b < n_blocks; ++b, x += kQK_K, out += sizeof(BlockQ6_K)) {
    float max_scale = 0, max_abs_scale = 0;
    for (int j = 0; j < kSub; ++j) {
      const float* qw = importance != nullptr ? importance + b * kQK_K + 16 * j : nullptr;
      scales[j] = fit_symmetric_scale(16, 32, x + 16 * j, qw, L + 16 * j);
      if (std::fabs(scales[j]) > max_abs_scale) {
        max_abs_scale = std::fabs(scales[j]);
        max_scale = scales[j];
      }
    }
    BlockQ6_K block{};
    if (max_abs_scale < kGroupMaxEps) {  // all zero: an all-zero block
      store_block(block, out);
      continue;
    }
    // The extreme sub-block scale maps to −128, so d may be negative (as in Q4_0).
    const float inv_scale = -128.0f / max_scale;
    block.d = f32_to_f16(1 / inv_scale);
    for (int j = 0; j < kSub; ++j)
      block.scales[j] = static_cast<int8_t>(std::min(127, nearest_int(inv_scale * scales[j])));
    for (int j = 0; j < kSub; ++j) {
      const float d = f16_to_f32(block.d) * block.scales[j];
      if (d == 0.0f) continue;
      for (int i = 0; i < 16; ++i)
        L[16 * j + i] = static_cast<int8_t>(std::clamp(nearest_int(x[16 * j + i] / d), -32, 31) + 32);
    }
    // Two halves of 128: ql byte l = element l (low) | l + 64 (high), byte l + 32 =
    // element l + 32 | l + 96; qh byte l = the top 2 bits of l, l + 32, l + 64, l + 96.
    for (int half = 0; half < 2; ++half) {
      const int8_t* q = L + 128 * half;
      uint8_t* ql = block.ql + 64 * half;
      uint8_t* qh = block.qh + 32 * half;
      for (int l = 0; l < 32; ++l) {
        ql[l] = static_cast<uint8_t>((q[l] & 0xF) | ((q[l + 64] & 0xF) << 4));
        ql[l + 32] = static_cast<uint8_t>((q[l + 32] & 0xF) | ((q[l + 96] & 0xF) << 4));
        qh[l] = static_cast<uint8_t>((q[l] >> 4) | ((q[l + 32] >> 4) << 2) | ((q[l + 64] >> 4) << 4) |
                                     ((q[l + 96] >> 4) << 6));
      }
    }
    store_block(block, out);
  }
}

void dequantize_q4_k(const uint8_t* in, int64_t n_blocks, float* y) {
  for (int64_t b = 0; b < n_blocks; ++b, in += sizeof(BlockQ4_K)) {
    const auto block = load_block<BlockQ4_K>(in);
    const float d = f16_to_f32(block.d), dmin = f16_to_f32(block.dmin);
    uint8_t sc[8], m[8];
    unpack_q4_k_scales(block.scales, sc, m);
    for (int c = 0; c < 4; ++c) {
      const uint8_t* q = block.qs + 32 * c;
      const float d_lo = d * sc[2 * c], m_lo = dmin * m[2 * c];
      const float d_hi = d * sc[2 * c + 1], m_hi = dmin * m[2 * c + 1];
      for (int l = 0; l < 32; ++l) *y++ = d_lo * (q[l] & 0xF) - m_lo;
      for (int l = 0; l < 32; ++l) *y++ = d_hi * (q[l] >> 4) - m_hi;
    }
  }
}

void dequantize_q6_k(const uint8_t* in, int64_t n_blocks, float* y) {
  for (int64_t b = 0; b < n_blocks; ++b, in += sizeof(BlockQ6_K)) {
    const auto block = load_block<BlockQ6_K>(in);
    const float d = f16_to_f32(block.d);
    for (int half = 0; half < 2; ++half, y += 128) {
      const uint8_t* ql = block.ql + 64 * half;
      const uint8_t* qh = block.qh + 32 * half;
      const int8_t* sc = block.scales + 8 * half;
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l] = d * sc[is] * q1;
        y[l + 32] = d * sc[is + 2] * q2;
        y[l + 64] = d * sc[is + 4] * q3;
        y[l + 96] = d * sc[is + 6] * q4;
      }
    }
  }
}

}  // namespace slmkit::ggml_detail
