// AVX2 kernels: vpmaddubsw (u8 × s8 → s16 pairs) + vpmaddwd (→ int32) per
// 32-column block, fp32 block scaling, zero points applied per 8 blocks.
// Every function carries its target attribute, so the file compiles (and is
// skipped at run time) in a portable build.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "runtime/kernels_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include <cstring>

#define SLMKIT_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace slmkit::runtime::detail {
namespace {

SLMKIT_AVX2 inline float hsum(__m256 v) {
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(t, _mm_shuffle_ps(t, t, 1)));
}

// Σ over groups of 4 columns of code × x as 8 int32 lanes; codes u8 ≤ 15.
SLMKIT_AVX2 inline __m256i dot_u4(__m256i codes, const int8_t* x) {
  const __m256i pairs = _mm256_maddubs_epi16(codes, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x)));
  return _mm256_madd_epi16(pairs, _mm256_set1_epi16(1));
}

// Same for u8 codes up to 255, where vpmaddubsw could saturate: returns
// Σ (code − 128) · x, as |code − 128| (u8) times x with the sign of code − 128.
SLMKIT_AVX2 inline __m256i dot_u8_minus128(__m256i codes, const int8_t* x) {
  const __m256i c = _mm256_xor_si256(codes, _mm256_set1_epi8(static_cast<char>(0x80)));
  const __m256i xs = _mm256_sign_epi8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x)), c);
  const __m256i pairs = _mm256_maddubs_epi16(_mm256_abs_epi8(c), xs);
  return _mm256_madd_epi16(pairs, _mm256_set1_epi16(1));
}

// Zero points of blocks bb..bb+nblk (≤ 8), as floats, minus `offset`.
SLMKIT_AVX2 inline __m256 load_zeros(const PackedLinear& w, const uint8_t* zrow, int64_t bb, int64_t nblk, int offset) {
  if (!zrow) return _mm256_set1_ps(static_cast<float>(w.uniform_zero - offset));
  // Whole-register loads in the common full case: a variable-length memcpy is a
  // library call, and a partial write then wider read of a stack slot stalls
  // store-to-load forwarding.
  __m128i z8;
  if (w.format == WeightFormat::kInt8) {
    uint64_t raw = 0;
    if (nblk == 8)
      std::memcpy(&raw, zrow + bb, 8);
    else
      std::memcpy(&raw, zrow + bb, static_cast<size_t>(nblk));
    z8 = _mm_cvtsi64_si128(static_cast<long long>(raw));
  } else {
    uint32_t raw = 0;
    if (nblk == 8)
      std::memcpy(&raw, zrow + bb / 2, 4);
    else
      std::memcpy(&raw, zrow + bb / 2, static_cast<size_t>(nblk / 2));
    const __m128i v = _mm_cvtepu8_epi16(_mm_cvtsi32_si128(static_cast<int>(raw)));
    z8 = _mm_or_si128(_mm_and_si128(v, _mm_set1_epi16(0x0F)), _mm_slli_epi16(_mm_srli_epi16(v, 4), 8));
  }
  const __m256i z = _mm256_add_epi32(_mm256_cvtepu8_epi32(z8), _mm256_set1_epi32(1 - offset));
  return _mm256_cvtepi32_ps(z);
}

template <bool kInt4>
SLMKIT_AVX2 void matvec_q(const PackedLinear& w, const ActQ8& x, int64_t r0, int64_t r1, float* y) {
  const int64_t nb = w.n_blocks;
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  // int8 dots come back as Σ (code − 128)·x: fold the 128 into the zero point.
  const int zero_offset = kInt4 ? 0 : 128;
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* row = w.codes.get() + r * w.code_row_bytes;
    const uint16_t* sc = w.scales.get() + r * nb;
    const uint8_t* zrow = w.zeros ? w.zeros.get() + r * w.zero_row_bytes : nullptr;
    // Four sums: one FMA per sum per 128 columns keeps the FMA latency hidden.
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps(), acc2 = _mm256_setzero_ps(),
           acc3 = _mm256_setzero_ps(), accz = _mm256_setzero_ps();
    for (int64_t bb = 0; bb < nb; bb += 8) {
      const int64_t nblk = nb - bb < 8 ? nb - bb : 8;
      __m128i sh;
      if (nblk == 8) {
        sh = _mm_loadu_si128(reinterpret_cast<const __m128i*>(sc + bb));
      } else {
        uint16_t tail[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        std::memcpy(tail, sc + bb, static_cast<size_t>(nblk) * 2);
        sh = _mm_loadu_si128(reinterpret_cast<const __m128i*>(tail));
      }
      const __m256 sw = _mm256_cvtph_ps(sh);
      alignas(32) float s[8];
      _mm256_store_ps(s, _mm256_mul_ps(sw, _mm256_loadu_ps(x.sx + bb)));
      accz = _mm256_fnmadd_ps(_mm256_mul_ps(sw, load_zeros(w, zrow, bb, nblk, zero_offset)), _mm256_loadu_ps(x.c + bb),
                              accz);
      const int8_t* xq = x.q + bb * 32;
      if (kInt4) {
        const uint8_t* codes = row + bb * 16;
        int64_t p = 0;
        for (; p + 4 <= nblk; p += 4) {  // 128 columns: bytes 0-31 hold blocks p (low) and p+2 (high), 32-63 p+1, p+3
          const __m256i v0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + p * 16));
          const __m256i v1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + p * 16 + 32));
          const int8_t* xp = xq + p * 32;
          const __m256i d0 = dot_u4(_mm256_and_si256(v0, m4), xp);
          const __m256i d1 = dot_u4(_mm256_and_si256(v1, m4), xp + 32);
          const __m256i d2 = dot_u4(_mm256_and_si256(_mm256_srli_epi16(v0, 4), m4), xp + 64);
          const __m256i d3 = dot_u4(_mm256_and_si256(_mm256_srli_epi16(v1, 4), m4), xp + 96);
          acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d0), _mm256_set1_ps(s[p]), acc0);
          acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d1), _mm256_set1_ps(s[p + 1]), acc1);
          acc2 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d2), _mm256_set1_ps(s[p + 2]), acc2);
          acc3 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d3), _mm256_set1_ps(s[p + 3]), acc3);
        }
        if (p < nblk) {  // the row's final 64 columns: block p low nibbles, p+1 high
          const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + p * 16));
          const __m256i d0 = dot_u4(_mm256_and_si256(v, m4), xq + p * 32);
          const __m256i d1 = dot_u4(_mm256_and_si256(_mm256_srli_epi16(v, 4), m4), xq + p * 32 + 32);
          acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d0), _mm256_set1_ps(s[p]), acc0);
          acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d1), _mm256_set1_ps(s[p + 1]), acc1);
        }
      } else {
        const uint8_t* codes = row + bb * 32;
        for (int64_t p = 0; p < nblk; p += 2) {
          const __m256i d0 =
              dot_u8_minus128(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + p * 32)), xq + p * 32);
          const __m256i d1 =
              dot_u8_minus128(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + p * 32 + 32)), xq + p * 32 + 32);
          if (p & 2) {
            acc2 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d0), _mm256_set1_ps(s[p]), acc2);
            acc3 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d1), _mm256_set1_ps(s[p + 1]), acc3);
          } else {
            acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d0), _mm256_set1_ps(s[p]), acc0);
            acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d1), _mm256_set1_ps(s[p + 1]), acc1);
          }
        }
      }
    }
    y[r] = hsum(_mm256_add_ps(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)), accz));
  }
}

template <typename Load>
SLMKIT_AVX2 inline void matvec_dense(const PackedLinear& w, const float* x, int64_t r0, int64_t r1, float* y, Load load,
                                     float (*scalar)(const void*, int64_t)) {
  const int64_t in = w.in_features;
  for (int64_t r = r0; r < r1; ++r) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    const int64_t base = r * in;
    int64_t i = 0;
    for (; i + 32 <= in; i += 32) {
      a0 = _mm256_fmadd_ps(load(base + i), _mm256_loadu_ps(x + i), a0);
      a1 = _mm256_fmadd_ps(load(base + i + 8), _mm256_loadu_ps(x + i + 8), a1);
      a2 = _mm256_fmadd_ps(load(base + i + 16), _mm256_loadu_ps(x + i + 16), a2);
      a3 = _mm256_fmadd_ps(load(base + i + 24), _mm256_loadu_ps(x + i + 24), a3);
    }
    for (; i + 8 <= in; i += 8) a0 = _mm256_fmadd_ps(load(base + i), _mm256_loadu_ps(x + i), a0);
    float tail = 0.0f;
    for (; i < in; ++i) tail += scalar(w.dense, base + i) * x[i];
    y[r] = hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3))) + tail;
  }
}

float scalar_f32(const void* d, int64_t i) { return static_cast<const float*>(d)[i]; }
float scalar_f16(const void* d, int64_t i) { return f16_to_f32(static_cast<const uint16_t*>(d)[i]); }
float scalar_bf16(const void* d, int64_t i) { return bf16_to_f32(static_cast<const uint16_t*>(d)[i]); }

SLMKIT_AVX2 void matvec_f32(const PackedLinear& w, const float* x, int64_t r0, int64_t r1, float* y) {
  const float* d = static_cast<const float*>(w.dense);
  matvec_dense(w, x, r0, r1, y, [d](int64_t i) SLMKIT_AVX2 { return _mm256_loadu_ps(d + i); }, scalar_f32);
}

SLMKIT_AVX2 void matvec_f16(const PackedLinear& w, const float* x, int64_t r0, int64_t r1, float* y) {
  const uint16_t* d = static_cast<const uint16_t*>(w.dense);
  matvec_dense(
      w, x, r0, r1, y,
      [d](int64_t i) SLMKIT_AVX2 { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(d + i))); },
      scalar_f16);
}

SLMKIT_AVX2 void matvec_bf16(const PackedLinear& w, const float* x, int64_t r0, int64_t r1, float* y) {
  const uint16_t* d = static_cast<const uint16_t*>(w.dense);
  matvec_dense(
      w, x, r0, r1, y,
      [d](int64_t i) SLMKIT_AVX2 {
        const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(d + i)));
        return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
      },
      scalar_bf16);
}

// T tokens × 8·V rows (vectors v0 .. v0+V−1 of a panel): per block, integer
// sums over the 8 column quads, then y += (sum · sw) · sx − m · (sx·Σq).
// int4 codes (≤ 15): vpmaddubsw pairs stay below 2·15·127, so eight quads
// accumulate in int16 before one vpmaddwd. int8 codes: the sign trick
// (|code − 128| × ±x, below 2·128·127 per pair) and int32 sums per quad; the
// panel's m then holds sw · (zero − 128).
template <int T, int V, bool kInt8>
SLMKIT_AVX2 void panel_tile(const uint8_t* panel, int64_t nb, const ActBatchQ8& x, int64_t t0, int v0, int64_t rows,
                            float* y, int64_t ldy) {
  const int8_t* xq[T];
  const float* sx[T];
  const float* c[T];
  for (int t = 0; t < T; ++t) {
    const ActQ8 a = x.token(t0 + t);
    xq[t] = a.q;
    sx[t] = a.sx;
    c[t] = a.c;
  }
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[T][V];
  for (int t = 0; t < T; ++t)
    for (int v = 0; v < V; ++v) acc[t][v] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* rec = panel + b * kPanelBlockBytes;
    __m256i dot[T][V];
    for (int t = 0; t < T; ++t)
      for (int v = 0; v < V; ++v) dot[t][v] = _mm256_setzero_si256();
#pragma GCC unroll 8
    for (int q = 0; q < 8; ++q) {
      __m256i wv[V], aw[V];
      for (int v = 0; v < V; ++v) {
        wv[v] = _mm256_load_si256(reinterpret_cast<const __m256i*>(rec + q * 128 + (v0 + v) * 32));
        if (kInt8) {
          wv[v] = _mm256_xor_si256(wv[v], _mm256_set1_epi8(static_cast<char>(0x80)));
          aw[v] = _mm256_abs_epi8(wv[v]);
        }
      }
      for (int t = 0; t < T; ++t) {
        int32_t four;
        std::memcpy(&four, xq[t] + b * 32 + q * 4, 4);
        const __m256i xb = _mm256_set1_epi32(four);
        for (int v = 0; v < V; ++v) {
          if (kInt8) {
            const __m256i pairs = _mm256_maddubs_epi16(aw[v], _mm256_sign_epi8(xb, wv[v]));
            dot[t][v] = _mm256_add_epi32(dot[t][v], _mm256_madd_epi16(pairs, ones));
          } else {
            dot[t][v] = _mm256_add_epi16(dot[t][v], _mm256_maddubs_epi16(wv[v], xb));
          }
        }
      }
    }
    const float* f = reinterpret_cast<const float*>(rec + 1024);
    for (int v = 0; v < V; ++v) {
      const __m256 sw = _mm256_load_ps(f + (v0 + v) * 8), m = _mm256_load_ps(f + kPanelRows + (v0 + v) * 8);
      for (int t = 0; t < T; ++t) {
        const __m256i d32 = kInt8 ? dot[t][v] : _mm256_madd_epi16(dot[t][v], ones);
        const __m256 prod = _mm256_mul_ps(_mm256_cvtepi32_ps(d32), sw);
        acc[t][v] = _mm256_fnmadd_ps(m, _mm256_set1_ps(c[t][b]), _mm256_fmadd_ps(prod, _mm256_set1_ps(sx[t][b]), acc[t][v]));
      }
    }
  }
  for (int t = 0; t < T; ++t)
    for (int v = 0; v < V; ++v) {
      const int64_t first = (v0 + v) * 8, valid = rows - first < 8 ? rows - first : 8;
      if (valid <= 0) continue;
      float* out = y + (t0 + t) * ldy + first;
      if (valid == 8) {
        _mm256_storeu_ps(out, acc[t][v]);
      } else {
        alignas(32) float tmp[8];
        _mm256_store_ps(tmp, acc[t][v]);
        std::memcpy(out, tmp, static_cast<size_t>(valid) * sizeof(float));
      }
    }
}

// Runs the tile over all tokens (T at a time, then the remainder one by one)
// and all 4 vectors of the panel (V at a time).
template <int T, int V, bool kInt8>
SLMKIT_AVX2 void panel_all_tokens(const uint8_t* panel, int64_t nb, const ActBatchQ8& x, int64_t rows, float* y,
                                  int64_t ldy) {
  for (int v0 = 0; v0 < 4 && v0 * 8 < rows; v0 += V) {
    int64_t t = 0;
    for (; t + T <= x.n; t += T) panel_tile<T, V, kInt8>(panel, nb, x, t, v0, rows, y, ldy);
    for (; t < x.n; ++t) panel_tile<1, V, kInt8>(panel, nb, x, t, v0, rows, y, ldy);
  }
}

template <bool kInt8>
SLMKIT_AVX2 void matmul_q(const PackedLinear& w, const ActBatchQ8& x, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  const int64_t nb = w.n_blocks;
  uint8_t* panel = thread_scratch(2, panel_bytes(nb));
  for (int64_t p = r0; p < r1; p += kPanelRows) {
    const int64_t rows = r1 - p < kPanelRows ? r1 - p : kPanelRows;
    repack_panel(w, p, rows, kInt8 ? 128 : 0, panel);
    if (kInt8)
      panel_all_tokens<4, 1, true>(panel, nb, x, rows, y + p, ldy);
    else
      panel_all_tokens<3, 2, false>(panel, nb, x, rows, y + p, ldy);
  }
}

}  // namespace

const KernelTable* kernels_avx2() {
  static const KernelTable table = [] {
    KernelTable t;
    t.matvec_q4 = matvec_q<true>;
    t.matvec_q8 = matvec_q<false>;
    t.matmul_q4 = matmul_q<false>;
    t.matmul_q8 = matmul_q<true>;
    t.matvec_f32 = matvec_f32;
    t.matvec_f16 = matvec_f16;
    t.matvec_bf16 = matvec_bf16;
    return t;
  }();
  return &table;
}

}  // namespace slmkit::runtime::detail

#else  // not x86-64: no AVX2 kernels in this build

namespace slmkit::runtime::detail {
const KernelTable* kernels_avx2() { return nullptr; }
}  // namespace slmkit::runtime::detail

#endif
