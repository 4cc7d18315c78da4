// AVX-512 VNNI kernels: vpdpbusd (u8 weight codes × s8 activations → int32).
// Decode: a 512-bit vpdpbusd per pair of 32-column blocks, the pair's two
// scales spread to their 8-lane halves by one vpermps, zero points applied per
// 16 blocks as Σ_b sw·z·(sx·Σq). Measured on Zen 4 and not kept: one 256-bit
// vpdpbusd per block with broadcast scales (35% slower), two rows at a time
// sharing the activation loads (no gain). Prefill: 32-row panels, 512-bit
// vpdpbusd across rows with broadcast activations. Every function carries its target attribute, so
// the file compiles (and is skipped at run time) in a portable build.
// GCC 12 warns about the undefined upper halves of _mm512_castsi256_si512 & co.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "runtime/kernels_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include <cstring>

#define SLMKIT_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")))

namespace slmkit::runtime::detail {
namespace {

// Lane l of a vpdpbusd result over 64 columns holds the sum of 4 products of
// block (l < 8 ? 0 : 1); pair_index(p) broadcasts blocks 2p and 2p+1 of a
// 16-block scale vector to those lanes.
SLMKIT_AVX512 inline __m512i pair_index(int p) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi32(2 * p)), _mm256_set1_epi32(2 * p + 1), 1);
}

SLMKIT_AVX512 inline __mmask16 first_lanes(int64_t n) {
  return n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << n) - 1);
}

// Zero points (not minus one) of blocks bb..bb+nblk of one row, as floats; 1.0 past nblk.
SLMKIT_AVX512 inline __m512 load_zeros(const PackedLinear& w, const uint8_t* zrow, int64_t bb, int64_t nblk) {
  if (!zrow) return _mm512_set1_ps(static_cast<float>(w.uniform_zero));
  __m128i z8;
  if (w.format == WeightFormat::kInt8) {
    z8 = _mm_maskz_loadu_epi8(first_lanes(nblk), zrow + bb);
  } else {
    // Two nibbles per byte, block 2j low: u16 lane j = byte j → bytes (low nibble, high nibble).
    const __m128i bytes = _mm_maskz_loadu_epi8(first_lanes(nblk / 2), zrow + bb / 2);
    const __m128i v = _mm_cvtepu8_epi16(bytes);
    z8 = _mm_or_si128(_mm_and_si128(v, _mm_set1_epi16(0x0F)), _mm_slli_epi16(_mm_srli_epi16(v, 4), 8));
  }
  const __m512i z = _mm512_add_epi32(_mm512_cvtepu8_epi32(z8), _mm512_set1_epi32(1));
  return _mm512_cvtepi32_ps(z);
}

template <bool kInt4>
SLMKIT_AVX512 void matvec_q(const PackedLinear& w, const ActQ8& x, int64_t r0, int64_t r1, float* y) {
  const int64_t nb = w.n_blocks;
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  __m512i idx[8];
  for (int p = 0; p < 8; ++p) idx[p] = pair_index(p);
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* row = w.codes.get() + r * w.code_row_bytes;
    const uint16_t* sc = w.scales.get() + r * nb;
    const uint8_t* zrow = w.zeros ? w.zeros.get() + r * w.zero_row_bytes : nullptr;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps(), accz = _mm512_setzero_ps();
    for (int64_t bb = 0; bb < nb; bb += 16) {
      const int64_t nblk = nb - bb < 16 ? nb - bb : 16;
      const __m512 sw = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(first_lanes(nblk), sc + bb));
      const __m512 s = _mm512_mul_ps(sw, _mm512_loadu_ps(x.sx + bb));
      accz = _mm512_fnmadd_ps(_mm512_mul_ps(sw, load_zeros(w, zrow, bb, nblk)), _mm512_loadu_ps(x.c + bb), accz);
      const int8_t* xq = x.q + bb * 32;
      if (kInt4) {
        const uint8_t* codes = row + bb * 16;
        int64_t p = 0;
        for (; p + 4 <= nblk; p += 4) {  // 128 columns: low nibbles blocks p, p+1; high p+2, p+3
          const __m512i v = _mm512_loadu_si512(codes + p * 16);
          const __m512i lo = _mm512_and_si512(v, m4), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
          const __m512i d0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, _mm512_loadu_si512(xq + p * 32));
          const __m512i d1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), hi, _mm512_loadu_si512(xq + p * 32 + 64));
          acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d0), _mm512_permutexvar_ps(idx[p / 2], s), acc0);
          acc1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d1), _mm512_permutexvar_ps(idx[p / 2 + 1], s), acc1);
        }
        if (p < nblk) {  // the row's final 64 columns: block p low nibbles, p+1 high
          const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + p * 16));
          const __m256i m4y = _mm256_set1_epi8(0x0F);
          const __m512i both = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_and_si256(v, m4y)),
                                                  _mm256_and_si256(_mm256_srli_epi16(v, 4), m4y), 1);
          const __m512i d = _mm512_dpbusd_epi32(_mm512_setzero_si512(), both, _mm512_loadu_si512(xq + p * 32));
          acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), _mm512_permutexvar_ps(idx[p / 2], s), acc0);
        }
      } else {
        const uint8_t* codes = row + bb * 32;
        int64_t p = 0;
        for (; p + 4 <= nblk; p += 4) {
          const __m512i d0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_loadu_si512(codes + p * 32),
                                                 _mm512_loadu_si512(xq + p * 32));
          const __m512i d1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_loadu_si512(codes + p * 32 + 64),
                                                 _mm512_loadu_si512(xq + p * 32 + 64));
          acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d0), _mm512_permutexvar_ps(idx[p / 2], s), acc0);
          acc1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d1), _mm512_permutexvar_ps(idx[p / 2 + 1], s), acc1);
        }
        if (p < nblk) {
          const __m512i d = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_loadu_si512(codes + p * 32),
                                                _mm512_loadu_si512(xq + p * 32));
          acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), _mm512_permutexvar_ps(idx[p / 2], s), acc0);
        }
      }
    }
    y[r] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc0, acc1), accz));
  }
}

// Dense rows: four independent 16-lane sums, masked tail.
template <typename Load>
SLMKIT_AVX512 inline void matvec_dense(const PackedLinear& w, const float* x, int64_t r0, int64_t r1, float* y, Load load) {
  const int64_t in = w.in_features;
  for (int64_t r = r0; r < r1; ++r) {
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
    const int64_t base = r * in;
    int64_t i = 0;
    for (; i + 64 <= in; i += 64) {
      a0 = _mm512_fmadd_ps(load(base + i, 0xFFFF), _mm512_loadu_ps(x + i), a0);
      a1 = _mm512_fmadd_ps(load(base + i + 16, 0xFFFF), _mm512_loadu_ps(x + i + 16), a1);
      a2 = _mm512_fmadd_ps(load(base + i + 32, 0xFFFF), _mm512_loadu_ps(x + i + 32), a2);
      a3 = _mm512_fmadd_ps(load(base + i + 48, 0xFFFF), _mm512_loadu_ps(x + i + 48), a3);
    }
    for (; i < in; i += 16) {
      const __mmask16 m = first_lanes(in - i);
      a0 = _mm512_fmadd_ps(load(base + i, m), _mm512_maskz_loadu_ps(m, x + i), a0);
    }
    y[r] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
  }
}

SLMKIT_AVX512 void matvec_f32(const PackedLinear& w, const float* x, int64_t r0, int64_t r1, float* y) {
  const float* d = static_cast<const float*>(w.dense);
  matvec_dense(w, x, r0, r1, y, [d](int64_t i, __mmask16 m) SLMKIT_AVX512 { return _mm512_maskz_loadu_ps(m, d + i); });
}

SLMKIT_AVX512 void matvec_f16(const PackedLinear& w, const float* x, int64_t r0, int64_t r1, float* y) {
  const uint16_t* d = static_cast<const uint16_t*>(w.dense);
  matvec_dense(w, x, r0, r1, y,
               [d](int64_t i, __mmask16 m) SLMKIT_AVX512 { return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, d + i)); });
}

SLMKIT_AVX512 void matvec_bf16(const PackedLinear& w, const float* x, int64_t r0, int64_t r1, float* y) {
  const uint16_t* d = static_cast<const uint16_t*>(w.dense);
  matvec_dense(w, x, r0, r1, y, [d](int64_t i, __mmask16 m) SLMKIT_AVX512 {
    const __m512i v = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, d + i));
    return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
  });
}

// T tokens × 32 rows of one panel: for each block, int32 sums of 8 column
// quads (vpdpbusd: the 4 codes of a row × 4 broadcast activations), then
// y += (sum · sw) · sx − m · (sx·Σq).
template <int T>
SLMKIT_AVX512 void panel_tile(const uint8_t* panel, int64_t nb, const ActBatchQ8& x, int64_t t0, int64_t rows, float* y,
                              int64_t ldy) {
  const int8_t* xq[T];
  const float* sx[T];
  const float* c[T];
  for (int t = 0; t < T; ++t) {
    const ActQ8 a = x.token(t0 + t);
    xq[t] = a.q;
    sx[t] = a.sx;
    c[t] = a.c;
  }
  __m512 acc[T][2];
  for (int t = 0; t < T; ++t) acc[t][0] = acc[t][1] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* rec = panel + b * kPanelBlockBytes;
    __m512i dot[T][2];
    for (int t = 0; t < T; ++t) dot[t][0] = dot[t][1] = _mm512_setzero_si512();
#pragma GCC unroll 8
    for (int q = 0; q < 8; ++q) {
      const __m512i w0 = _mm512_load_si512(rec + q * 128), w1 = _mm512_load_si512(rec + q * 128 + 64);
      for (int t = 0; t < T; ++t) {
        int32_t four;
        std::memcpy(&four, xq[t] + b * 32 + q * 4, 4);
        const __m512i xb = _mm512_set1_epi32(four);
        dot[t][0] = _mm512_dpbusd_epi32(dot[t][0], w0, xb);
        dot[t][1] = _mm512_dpbusd_epi32(dot[t][1], w1, xb);
      }
    }
    const float* f = reinterpret_cast<const float*>(rec + 1024);
    const __m512 sw0 = _mm512_load_ps(f), sw1 = _mm512_load_ps(f + 16), m0 = _mm512_load_ps(f + 32),
                 m1 = _mm512_load_ps(f + 48);
    for (int t = 0; t < T; ++t) {
      const __m512 s = _mm512_set1_ps(sx[t][b]), cs = _mm512_set1_ps(c[t][b]);
      acc[t][0] = _mm512_fnmadd_ps(m0, cs, _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(dot[t][0]), sw0), s, acc[t][0]));
      acc[t][1] = _mm512_fnmadd_ps(m1, cs, _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(dot[t][1]), sw1), s, acc[t][1]));
    }
  }
  const __mmask16 k0 = first_lanes(rows), k1 = first_lanes(rows > 16 ? rows - 16 : 0);
  for (int t = 0; t < T; ++t) {
    float* out = y + (t0 + t) * ldy;
    _mm512_mask_storeu_ps(out, k0, acc[t][0]);
    _mm512_mask_storeu_ps(out + 16, k1, acc[t][1]);
  }
}

constexpr int kTileTokens = 4;

SLMKIT_AVX512 void matmul_q(const PackedLinear& w, const ActBatchQ8& x, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  const int64_t nb = w.n_blocks;
  uint8_t* panel = thread_scratch(2, panel_bytes(nb));
  for (int64_t p = r0; p < r1; p += kPanelRows) {
    const int64_t rows = r1 - p < kPanelRows ? r1 - p : kPanelRows;
    repack_panel(w, p, rows, 0, panel);
    int64_t t = 0;
    for (; t + kTileTokens <= x.n; t += kTileTokens) panel_tile<kTileTokens>(panel, nb, x, t, rows, y + p, ldy);
    switch (x.n - t) {
      case 3:
        panel_tile<3>(panel, nb, x, t, rows, y + p, ldy);
        break;
      case 2:
        panel_tile<2>(panel, nb, x, t, rows, y + p, ldy);
        break;
      case 1:
        panel_tile<1>(panel, nb, x, t, rows, y + p, ldy);
        break;
      default:
        break;
    }
  }
}

}  // namespace

const KernelTable* kernels_avx512() {
  static const KernelTable table = [] {
    KernelTable t;
    t.matvec_q4 = matvec_q<true>;
    t.matvec_q8 = matvec_q<false>;
    t.matmul_q4 = t.matmul_q8 = matmul_q;
    t.matvec_f32 = matvec_f32;
    t.matvec_f16 = matvec_f16;
    t.matvec_bf16 = matvec_bf16;
    return t;
  }();
  return &table;
}

}  // namespace slmkit::runtime::detail

#else  // not x86-64: no AVX-512 kernels in this build

namespace slmkit::runtime::detail {
const KernelTable* kernels_avx512() { return nullptr; }
}  // namespace slmkit::runtime::detail

#endif
