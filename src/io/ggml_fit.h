// Internal to the ggml codecs (ggml_*.cpp): block load/store, llama.cpp's
// rounding helpers and the scale searches its quantizers share. Not part of the
// public interface; include io/ggml_blocks.h instead.
//
// The searches follow llama.cpp's ggml-quants.c step by step, in the same float
// operation order, and every file using them is compiled without fused
// multiply-add (CMakeLists.txt: -ffp-contract=off), because the output must be
// the bytes llama-quantize writes.
#pragma once

#include <cstdint>
#include <cstring>

#include "io/ggml_blocks.h"

namespace slmkit::ggml_detail {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "ggml blocks are little-endian; the block structs are stored as in memory");

constexpr int64_t kQK = 32;     // elements per Q4_0 / Q4_1 / Q5_0 / Q8_0 block
constexpr int64_t kQK_K = 256;  // elements per K-quant super-block
constexpr float kGroupMaxEps = 1e-15f;  // below this a group counts as all zero

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
int nearest_int(float x);

// (int)x for a code computed as x + 0.5 or x + 8.5, clamped to [0, max_code]:
// truncation as llama.cpp's (int8_t) cast, without its undefined behaviour out of range.
int truncated_code(float x, int max_code);

// Fits x ≈ scale·L + min on codes L in [0, nmax] minimising Σ w·err², min ≤ 0:
// the min/max grid first, then nstep + 1 stretched grids, each refit by weighted
// least squares; the best fit wins (make_qkx2_quants / make_qkx3_quants, which
// agree when weights are given). Returns the scale and stores −min in *neg_min.
// n ≤ 32.
float fit_scale_and_min(int n, int nmax, const float* x, const float* w, uint8_t* L, float* neg_min, float rmin,
                        float rdelta, int nstep);

// Fits x ≈ scale·(L − nmax) on signed codes in [−nmax, nmax − 1] minimising
// Σ w·err² (w = x² when no weights are given), trying 19 grid stretches
// (make_qx_quants with rmse_type 1). L receives the codes + nmax.
float fit_symmetric_scale(int n, int nmax, const float* x, const float* w, int8_t* L);

// Quantizes non-negative x (sub-block scales or mins) to L in [0, nmax] times one
// scale, minimising Σ w·err²: nine grid stretches, then up to five rounds of
// single-code moves (make_qp_quants; used by the importance-weighted Q4_K).
float fit_positive_scale(int n, int nmax, const float* x, const float* w, uint8_t* L);

// The per-element weights llama.cpp's importance-weighted 32-element quantizers
// use: importance[j] · sqrt(sigma2 + x[j]²), sigma2 = mean x² over the row.
float row_sigma2(const float* x, int64_t n);

// Block codecs of each type over n_blocks consecutive blocks. `importance` is
// null for llama.cpp's reference quantizer; otherwise one weight per element and
// `x` is exactly one row (the 32-element types take sigma2 over it).
void quantize_q4_0(const float* x, int64_t n_blocks, const float* importance, uint8_t* out);
void quantize_q4_1(const float* x, int64_t n_blocks, const float* importance, uint8_t* out);
void quantize_q5_0(const float* x, int64_t n_blocks, const float* importance, uint8_t* out);
void quantize_q8_0(const float* x, int64_t n_blocks, uint8_t* out);
void quantize_q4_k(const float* x, int64_t n_blocks, const float* importance, uint8_t* out);
void quantize_q6_k(const float* x, int64_t n_blocks, const float* importance, uint8_t* out);

void dequantize_q4_0(const uint8_t* in, int64_t n_blocks, float* y);
void dequantize_q4_1(const uint8_t* in, int64_t n_blocks, float* y);
void dequantize_q5_0(const uint8_t* in, int64_t n_blocks, float* y);
void dequantize_q8_0(const uint8_t* in, int64_t n_blocks, float* y);
void dequantize_q4_k(const uint8_t* in, int64_t n_blocks, float* y);
void dequantize_q6_k(const uint8_t* in, int64_t n_blocks, float* y);

}  // namespace slmkit::ggml_detail
