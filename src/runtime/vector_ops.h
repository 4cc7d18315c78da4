// The small per-row operations of the decoder around the linear layers: norms,
// activations, RoPE, element-type conversion. Plain loops the compiler
// vectorises (`omp simd` reductions); the linear layers are the only place
// where hand-written SIMD pays (runtime/linear_kernels.h).
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace slmkit::runtime {

// y = x · rsqrt(mean(x²) + eps) · weight, over one row of n values (y may be x).
void rms_norm(const float* x, const float* weight, int64_t n, double eps, float* y);

// y = (x − mean) · rsqrt(var + eps) · weight + bias (GPT-2's LayerNorm; y may be x).
void layer_norm(const float* x, const float* weight, const float* bias, int64_t n, double eps, float* y);

// gate[i] = silu(gate[i]) · up[i]: SwiGLU's product, in place.
void silu_mul(float* gate, const float* up, int64_t n);

// x[i] = gelu(x[i]); tanh approximation (GPT-2's "gelu_new") or exact erf form.
void gelu(float* x, int64_t n, bool tanh_approximation);

// Rotate-half RoPE on `heads` consecutive head vectors of head_dim values:
// x[i] ← x[i]·cos[i] − x[i+h]·sin[i], x[i+h] ← x[i+h]·cos[i] + x[i]·sin[i]
// with h = head_dim/2 and cos/sin the table row of the position (h values).
void apply_rope(float* x, int64_t heads, int64_t head_dim, const float* cos, const float* sin);

// dot(a, b) over n floats, vectorised.
float dot(const float* a, const float* b, int64_t n);

// y[i] += a · x[i]
void axpy(float a, const float* x, float* y, int64_t n);

// Row conversions for fp16 key/value storage and embedding rows of any float dtype.
void f16_to_f32_row(const uint16_t* src, float* dst, int64_t n);
void f32_to_f16_row(const float* src, uint16_t* dst, int64_t n);
// `src` holds n values of `dtype` (F32, F16 or BF16).
void to_f32_row(const void* src, DType dtype, float* dst, int64_t n);

}  // namespace slmkit::runtime
