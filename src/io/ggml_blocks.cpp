#include "io/ggml_blocks.h"

// llama.cpp's reference quantizers run in ggml-base, built for the baseline ISA
// without fused multiply-add; contracting a·b + c into one rounding here (GCC does
// so by default for C++ under -march=native) would change rare K-quant choices.
// CMakeLists.txt compiles this file with -ffp-contract=off.

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <string>

#include "core/dtype.h"
#include "core/error.h"

namespace slmkit {
namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "ggml blocks are little-endian; the block structs are stored as in memory");

constexpr int64_t kQK = 32;    // elements per Q4_0 / Q4_1 / Q8_0 block
constexpr int64_t kQK_K = 256;  // elements per K-quant super-block

// The one type table (ggml.c's type_traits: name, block size, block bytes).
constexpr std::array<GgmlTypeInfo, 36> kTypes = {{
    {GgmlType::F32, "f32", 1, 4, true},
    {GgmlType::F16, "f16", 1, 2, true},
    {GgmlType::Q4_0, "q4_0", 32, 18, true},
    {GgmlType::Q4_1, "q4_1", 32, 20, true},
    {GgmlType::Q5_0, "q5_0", 32, 22, false},
    {GgmlType::Q5_1, "q5_1", 32, 24, false},
    {GgmlType::Q8_0, "q8_0", 32, 34, true},
    {GgmlType::Q8_1, "q8_1", 32, 36, false},
    {GgmlType::Q2_K, "q2_K", 256, 84, false},
    {GgmlType::Q3_K, "q3_K", 256, 110, false},
    {GgmlType::Q4_K, "q4_K", 256, 144, true},
    {GgmlType::Q5_K, "q5_K", 256, 176, false},
    {GgmlType::Q6_K, "q6_K", 256, 210, true},
    {GgmlType::Q8_K, "q8_K", 256, 292, false},
    {GgmlType::IQ2_XXS, "iq2_xxs", 256, 66, false},
    {GgmlType::IQ2_XS, "iq2_xs", 256, 74, false},
    {GgmlType::IQ3_XXS, "iq3_xxs", 256, 98, false},
    {GgmlType::IQ1_S, "iq1_s", 256, 50, false},
    {GgmlType::IQ4_NL, "iq4_nl", 32, 18, false},
    {GgmlType::IQ3_S, "iq3_s", 256, 110, false},
    {GgmlType::IQ2_S, "iq2_s", 256, 82, false},
    {GgmlType::IQ4_XS, "iq4_xs", 256, 136, false},
    {GgmlType::I8, "i8", 1, 1, false},
    {GgmlType::I16, "i16", 1, 2, false},
    {GgmlType::I32, "i32", 1, 4, false},
    {GgmlType::I64, "i64", 1, 8, false},
    {GgmlType::F64, "f64", 1, 8, false},
    {GgmlType::IQ1_M, "iq1_m", 256, 56, false},
    {GgmlType::BF16, "bf16", 1, 2, true},
    {GgmlType::TQ1_0, "tq1_0", 256, 54, false},
    {GgmlType::TQ2_0, "tq2_0", 256, 66, false},
    {GgmlType::MXFP4, "mxfp4", 32, 17, false},
    {GgmlType::NVFP4, "nvfp4", 64, 36, false},
    {GgmlType::Q1_0, "q1_0", 128, 18, false},
    {GgmlType::Q2_0, "q2_0", 64, 18, false},
}};

template <typename Block>
Block load_block(const uint8_t* p) {  // rows may sit at any byte offset
  Block b;
  std::memcpy(&b, p, sizeof(Block));
  return b;
}

template <typename Block>
void store_block(const Block& b, uint8_t* p) {
  std::memcpy(p, &b, sizeof(Block));
}

// Round half to even, as ggml's nearest_int. The quantizers only round values
// scaled into a code range; the clamp keeps degenerate inputs (a tiny scale whose
// inverse overflows) away from an undefined float-to-int conversion.
int nearest_int(float x) {
  constexpr float kLimit = 4194303.0f;  // 2^22 − 1, the range ggml's rounding trick supports
  if (!(std::fabs(x) <= kLimit)) return x > 0 ? static_cast<int>(kLimit) : -static_cast<int>(kLimit);
  return static_cast<int>(std::nearbyint(x));
}

// (int)x for a code computed as x + 0.5 or x + 8.5, clamped to [0, 15]: truncation
// as llama.cpp's (int8_t) cast, without its undefined behaviour out of range.
int truncated_nibble(float x) { return static_cast<int>(std::fmin(std::fmax(x, 0.0f), 15.0f)); }

std::string_view name_of(GgmlType t) { return ggml_type_info(t).name; }

std::string codec_type_names() {  // "f32, f16, q4_0, ..." from the table
  std::string names;
  for (const GgmlTypeInfo& info : kTypes) {
    if (!info.has_codec) continue;
    if (!names.empty()) names += ", ";
    names += info.name;
  }
  return names;
}

// ---------------------------------------------------------------- 32-element types

void quantize_q4_0(const float* x, int64_t n_blocks, uint8_t* out) {
  for (int64_t b = 0; b < n_blocks; ++b, x += kQK, out += sizeof(BlockQ4_0)) {
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
    BlockQ4_0 block{};
    block.d = f32_to_f16(d);
    for (int j = 0; j < kQK / 2; ++j) {
      const int lo = truncated_nibble(x[j] * inv_d + 8.5f);
      const int hi = truncated_nibble(x[j + kQK / 2] * inv_d + 8.5f);
      block.qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
    store_block(block, out);
  }
}

void quantize_q4_1(const float* x, int64_t n_blocks, uint8_t* out) {
  for (int64_t b = 0; b < n_blocks; ++b, x += kQK, out += sizeof(BlockQ4_1)) {
    const auto [min_it, max_it] = std::minmax_element(x, x + kQK);
    const float min = *min_it, max = *max_it;
    const float d = (max - min) / 15;
    const float inv_d = d != 0.0f ? 1.0f / d : 0.0f;
    BlockQ4_1 block{};
    block.d = f32_to_f16(d);
    block.m = f32_to_f16(min);
    for (int j = 0; j < kQK / 2; ++j) {
      const int lo = truncated_nibble((x[j] - min) * inv_d + 0.5f);
      const int hi = truncated_nibble((x[j + kQK / 2] - min) * inv_d + 0.5f);
      block.qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
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

void dequantize_q8_0(const uint8_t* in, int64_t n_blocks, float* y) {
  for (int64_t b = 0; b < n_blocks; ++b, in += sizeof(BlockQ8_0), y += kQK) {
    const auto block = load_block<BlockQ8_0>(in);
    const float d = f16_to_f32(block.d);
    for (int j = 0; j < kQK; ++j) y[j] = static_cast<float>(block.qs[j]) * d;
  }
}

// ---------------------------------------------------------------- K-quants
//
// The searches below follow llama.cpp's reference quantizers step by step, in the
// same float operation order (and without FMA, see the top of the file), because
// the output must be the bytes llama-quantize writes.

constexpr float kGroupMaxEps = 1e-15f;  // below this a group counts as all zero

// Fits x ≈ scale·L + min on codes L in [0, nmax] minimising Σ w·err², min ≤ 0:
// the min/max grid first, then nstep + 1 stretched grids, each refit by weighted
// least squares; the best fit wins (make_qkx2_quants / make_qkx3_quants).
// Returns the scale and stores −min in *neg_min.
float fit_scale_and_min(int n, int nmax, const float* x, const float* w, uint8_t* L,
                        float* neg_min, float rmin, float rdelta, int nstep) {
  float min = x[0], max = x[0];
  float sum_w = w[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    sum_w += w[i];
    sum_x += w[i] * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    std::fill(L, L + n, uint8_t{0});
    *neg_min = -min;
    return 0.0f;
  }
  float inv_scale = nmax / (max - min);
  float scale = 1 / inv_scale;
  float best_error = 0;
  for (int i = 0; i < n; ++i) {
    L[i] = static_cast<uint8_t>(std::clamp(nearest_int(inv_scale * (x[i] - min)), 0, nmax));
    float diff = scale * L[i] + min - x[i];
    best_error += w[i] * (diff * diff);
  }
  uint8_t trial[32];
  SLMKIT_ASSERT(n <= 32, "sub-blocks have at most 32 elements");
  for (int step = 0; step <= nstep; ++step) {
    inv_scale = (rmin + rdelta * step + nmax) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      const int l = std::clamp(nearest_int(inv_scale * (x[i] - min)), 0, nmax);
      trial[i] = static_cast<uint8_t>(l);
      sum_l += w[i] * l;
      sum_l2 += w[i] * l * l;
      sum_xl += w[i] * l * x[i];
    }
    const float det = sum_w * sum_l2 - sum_l * sum_l;
    if (!(det > 0)) continue;
    float this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
    float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
    if (this_min > 0) {  // the model has no positive offset: refit the scale alone
      this_min = 0;
      this_scale = sum_xl / sum_l2;
    }
    float error = 0;
    for (int i = 0; i < n; ++i) {
      float diff = this_scale * trial[i] + this_min - x[i];
      error += w[i] * (diff * diff);
    }
    if (error < best_error) {
      std::copy(trial, trial + n, L);
      best_error = error;
      scale = this_scale;
      min = this_min;
    }
  }
  *neg_min = -min;
  return scale;
}

// Fits x ≈ scale·(L − nmax) on signed codes in [−nmax, nmax − 1] minimising
// Σ w·err² (w = x² when no weights are given), trying 19 grid stretches
// (make_qx_quants with rmse_type 1). L receives the codes + nmax.
float fit_symmetric_scale(int n, int nmax, const float* x, const float* w, int8_t* L) {
  float max = 0, amax = 0;
  for (int i = 0; i < n; ++i) {
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      max = x[i];
    }
  }
  if (amax < kGroupMaxEps) {
    std::fill(L, L + n, int8_t{0});
    return 0.0f;
  }
  const auto weight = [&](int i) { return w != nullptr ? w[i] : x[i] * x[i]; };
  const auto code = [&](float inv_scale, int i) {
    return std::clamp(nearest_int(inv_scale * x[i]), -nmax, nmax - 1);
  };
  float inv_scale = static_cast<float>(-nmax) / max;
  float sum_lx = 0, sum_l2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = code(inv_scale, i);
    L[i] = static_cast<int8_t>(l + nmax);
    sum_lx += weight(i) * x[i] * l;
    sum_l2 += weight(i) * l * l;
  }
  float scale = sum_l2 != 0 ? sum_lx / sum_l2 : 0.0f;
  float best = scale * sum_lx;
  for (int step = -9; step <= 9; ++step) {
    if (step == 0) continue;
    inv_scale = -(nmax + 0.1f * step) / max;
    sum_lx = sum_l2 = 0;
    for (int i = 0; i < n; ++i) {
      const int l = code(inv_scale, i);
      sum_lx += weight(i) * x[i] * l;
      sum_l2 += weight(i) * l * l;
    }
    if (sum_l2 > 0 && sum_lx * sum_lx > best * sum_l2) {
      for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(nmax + code(inv_scale, i));
      scale = sum_lx / sum_l2;
      best = scale * sum_lx;
    }
  }
  return scale;
}

// Quantizes non-negative x (sub-block scales or mins) to L in [0, nmax] times one
// scale, minimising Σ w·err²: nine grid stretches, then up to five rounds of
// single-code moves (make_qp_quants; used by the importance-weighted Q4_K).
float fit_positive_scale(int n, int nmax, const float* x, const float* w, uint8_t* L) {
  float max = 0;
  for (int i = 0; i < n; ++i) max = std::max(max, x[i]);
  if (max < kGroupMaxEps) {
    std::fill(L, L + n, uint8_t{0});
    return 0.0f;
  }
  float inv_scale = nmax / max;
  for (int i = 0; i < n; ++i) L[i] = static_cast<uint8_t>(nearest_int(inv_scale * x[i]));
  const float scale = 1 / inv_scale;
  float best_mse = 0;
  for (int i = 0; i < n; ++i) {
    const float diff = x[i] - scale * L[i];
    best_mse += w[i] * diff * diff;
  }
  for (int step = -4; step <= 4; ++step) {
    if (step == 0) continue;
    const float inv_scale_step = (0.1f * step + nmax) / max;
    const float scale_step = 1 / inv_scale_step;
    float mse = 0;
    for (int i = 0; i < n; ++i) {
      const int l = std::min(nmax, nearest_int(inv_scale_step * x[i]));
      const float diff = x[i] - scale_step * l;
      mse += w[i] * diff * diff;
    }
    if (mse < best_mse) {
      best_mse = mse;
      inv_scale = inv_scale_step;
    }
  }
  float sum_lx = 0, sum_l2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = std::min(nmax, nearest_int(inv_scale * x[i]));
    L[i] = static_cast<uint8_t>(l);
    sum_lx += w[i] * x[i] * l;
    sum_l2 += w[i] * l * l;
  }
  for (int round = 0; round < 5; ++round) {
    int n_changed = 0;
    for (int i = 0; i < n; ++i) {
      float slx = sum_lx - w[i] * x[i] * L[i];
      float sl2 = sum_l2 - w[i] * L[i] * L[i];
      if (!(slx > 0 && sl2 > 0)) continue;
      const int new_l = std::min(nmax, nearest_int(x[i] * sl2 / slx));
      if (new_l == L[i]) continue;
      slx += w[i] * x[i] * new_l;
      sl2 += w[i] * new_l * new_l;
      if (slx * slx * sum_l2 > sum_lx * sum_lx * sl2) {
        L[i] = static_cast<uint8_t>(new_l);
        sum_lx = slx;
        sum_l2 = sl2;
        ++n_changed;
      }
    }
    if (n_changed == 0) break;
  }
  return sum_l2 > 0.0f ? sum_lx / sum_l2 : 0.0f;
}

// Q4_K super-block scales: 6-bit sc/m per 32-element sub-block relative to fp16
// d/dmin. Without importance: each sub-block's fit weighted by |x| + rms(x), then
// sc/m scaled so the largest is 63 (quantize_row_q4_K_ref). With importance: the
// weighted fit, and the 6-bit codes themselves fitted (quantize_row_q4_K_impl).
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

}  // namespace

// ---------------------------------------------------------------- type table

const GgmlTypeInfo* find_ggml_type(uint32_t id) {
  for (const GgmlTypeInfo& info : kTypes)
    if (static_cast<uint32_t>(info.type) == id) return &info;
  return nullptr;
}

const GgmlTypeInfo& ggml_type_info(GgmlType type) {
  const GgmlTypeInfo* info = find_ggml_type(static_cast<uint32_t>(type));
  SLMKIT_ASSERT(info != nullptr, "ggml type id ", static_cast<uint32_t>(type), " is not in the table");
  return *info;
}

std::string_view ggml_type_name(GgmlType type) { return ggml_type_info(type).name; }

std::optional<GgmlType> ggml_type_from_name(std::string_view name) {
  const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  for (const GgmlTypeInfo& info : kTypes) {
    if (info.name.size() != name.size()) continue;
    if (std::equal(name.begin(), name.end(), info.name.begin(),
                   [&](char a, char b) { return lower(a) == lower(b); }))
      return info.type;
  }
  return std::nullopt;
}

size_t ggml_row_bytes(GgmlType type, int64_t n_elements) {
  const GgmlTypeInfo& info = ggml_type_info(type);
  SLMKIT_CHECK(n_elements >= 0 && n_elements % info.block_size == 0, "ggml type ", info.name,
               ": a row of ", n_elements, " elements is not a whole number of ", info.block_size,
               "-element blocks; the row length must be a multiple of ", info.block_size);
  size_t bytes = 0;
  const bool overflow = __builtin_mul_overflow(static_cast<size_t>(n_elements / info.block_size),
                                               info.block_bytes, &bytes);
  SLMKIT_CHECK(!overflow, "ggml type ", info.name, ": ", n_elements,
               " elements overflow the byte count");
  return bytes;
}

void pack_q4_k_scales(const uint8_t scale[8], const uint8_t min[8], uint8_t packed[12]) {
  for (int k = 0; k < 4; ++k) {
    packed[k] = static_cast<uint8_t>((scale[k] & 63) | ((scale[k + 4] >> 4) << 6));
    packed[k + 4] = static_cast<uint8_t>((min[k] & 63) | ((min[k + 4] >> 4) << 6));
    packed[k + 8] = static_cast<uint8_t>((scale[k + 4] & 0xF) | ((min[k + 4] & 0xF) << 4));
  }
}

void unpack_q4_k_scales(const uint8_t packed[12], uint8_t scale[8], uint8_t min[8]) {
  for (int k = 0; k < 4; ++k) {
    scale[k] = packed[k] & 63;
    min[k] = packed[k + 4] & 63;
    scale[k + 4] = static_cast<uint8_t>((packed[k + 8] & 0xF) | ((packed[k] >> 6) << 4));
    min[k + 4] = static_cast<uint8_t>((packed[k + 8] >> 4) | ((packed[k + 4] >> 6) << 4));
  }
}

void dequantize_row(GgmlType type, const uint8_t* blocks, int64_t n, float* out) {
  const GgmlTypeInfo& info = ggml_type_info(type);
  ggml_row_bytes(type, n);  // validates n
  if (n == 0) return;
  const int64_t n_blocks = n / info.block_size;
  switch (type) {
    case GgmlType::F32: std::memcpy(out, blocks, static_cast<size_t>(n) * 4); return;
    case GgmlType::F16:
      for (int64_t i = 0; i < n; ++i) out[i] = f16_to_f32(load_block<uint16_t>(blocks + 2 * i));
      return;
    case GgmlType::BF16:
      for (int64_t i = 0; i < n; ++i) out[i] = bf16_to_f32(load_block<uint16_t>(blocks + 2 * i));
      return;
    case GgmlType::Q4_0: dequantize_q4_0(blocks, n_blocks, out); return;
    case GgmlType::Q4_1: dequantize_q4_1(blocks, n_blocks, out); return;
    case GgmlType::Q8_0: dequantize_q8_0(blocks, n_blocks, out); return;
    case GgmlType::Q4_K: dequantize_q4_k(blocks, n_blocks, out); return;
    case GgmlType::Q6_K: dequantize_q6_k(blocks, n_blocks, out); return;
    default:
      throw Error(cat("ggml type ", info.name, ": slmkit cannot decode it (supported: ", codec_type_names(), ")"));
  }
}

void quantize_row(GgmlType type, const float* values, int64_t n, uint8_t* out,
                  const float* importance) {
  const GgmlTypeInfo& info = ggml_type_info(type);
  ggml_row_bytes(type, n);  // validates n
  SLMKIT_CHECK(importance == nullptr || type == GgmlType::Q4_K || type == GgmlType::Q6_K,
               "ggml type ", info.name, ": importance weights are only used by q4_K and q6_K; ",
               "llama.cpp's reference ", info.name, " quantizer ignores them");
  for (int64_t i = 0; importance != nullptr && i < n; ++i)
    SLMKIT_CHECK(std::isfinite(importance[i]) && importance[i] >= 0, "quantizing to ", info.name,
                 ": importance weight ", i, " is ", importance[i], "; weights must be finite and >= 0");
  if (type != GgmlType::F32 && type != GgmlType::F16 && type != GgmlType::BF16) {
    for (int64_t i = 0; i < n; ++i)
      SLMKIT_CHECK(std::isfinite(values[i]), "quantizing to ", info.name, ": element ", i, " is ",
                   values[i], "; a block scale cannot be computed from a non-finite value");
  }
  if (n == 0) return;
  const int64_t n_blocks = n / info.block_size;
  switch (type) {
    case GgmlType::F32: std::memcpy(out, values, static_cast<size_t>(n) * 4); return;
    case GgmlType::F16:
      for (int64_t i = 0; i < n; ++i) store_block(f32_to_f16(values[i]), out + 2 * i);
      return;
    case GgmlType::BF16:
      for (int64_t i = 0; i < n; ++i) store_block(f32_to_bf16(values[i]), out + 2 * i);
      return;
    case GgmlType::Q4_0: quantize_q4_0(values, n_blocks, out); return;
    case GgmlType::Q4_1: quantize_q4_1(values, n_blocks, out); return;
    case GgmlType::Q8_0: quantize_q8_0(values, n_blocks, out); return;
    case GgmlType::Q4_K: quantize_q4_k(values, n_blocks, importance, out); return;
    case GgmlType::Q6_K: quantize_q6_k(values, n_blocks, importance, out); return;
    default:
      throw Error(cat("ggml type ", info.name, ": slmkit cannot encode it (supported: ", codec_type_names(), ")"));
  }
}

// ---------------------------------------------------------------- exact encoders

void encode_row_exact(GgmlType type, const int32_t* codes, const float* scales, const float* mins,
                      int64_t n, uint8_t* out) {
  const std::string_view name = name_of(type);
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
               "exact decoding of ", name_of(type), " is not supported (only q4_0, q4_1, q8_0)");
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
