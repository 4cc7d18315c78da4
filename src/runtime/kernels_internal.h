// Internal interface between the kernel dispatcher (linear_kernels.cpp) and the
// per-ISA kernel files (kernels_scalar.cpp, kernels_avx2.cpp, kernels_avx512.cpp).
// Not part of the public API.
#pragma once

#include <cstddef>
#include <cstdint>

#include "runtime/linear_kernels.h"

namespace slmkit::runtime::detail {

// Activation arrays are padded so SIMD code may read whole vectors: codes to
// k_padded (a multiple of 64), per-block arrays to a multiple of 16 blocks.
inline int64_t padded_blocks(int64_t n_blocks) { return (n_blocks + 15) / 16 * 16; }

// One token's int8 activations in a layer's packed input order.
struct ActQ8 {
  const int8_t* q = nullptr;     // [k_padded]
  const float* sx = nullptr;     // [padded_blocks] block scales (0 past n_blocks)
  const float* c = nullptr;      // [padded_blocks] sx · Σ q over the block
};

// n tokens: token t's arrays start at q + t·q_stride, sx/c + t·s_stride.
struct ActBatchQ8 {
  const int8_t* q = nullptr;
  const float* sx = nullptr;
  const float* c = nullptr;
  int64_t q_stride = 0, s_stride = 0, n = 0;
  ActQ8 token(int64_t t) const { return {q + t * q_stride, sx + t * s_stride, c + t * s_stride}; }
};

// y[r] for r in [r0, r1) (no bias). Quantized (kInt4/kInt8) or dense, by table slot.
using MatvecQFn = void (*)(const PackedLinear& w, const ActQ8& x, int64_t r0, int64_t r1, float* y);
// y[t·ldy + r] for all tokens and r in [r0, r1) (no bias); r0 is a multiple of kPanelRows.
using MatmulQFn = void (*)(const PackedLinear& w, const ActBatchQ8& x, int64_t r0, int64_t r1, float* y,
                           int64_t ldy);
using MatvecDenseFn = void (*)(const PackedLinear& w, const float* x, int64_t r0, int64_t r1, float* y);

// Matmul threads get row ranges aligned to this many rows (the widest micro-kernel panel).
constexpr int64_t kPanelRows = 32;

// A matmul panel: kPanelRows rows of a quantized layer re-laid out for kernels
// that vectorize across output rows. Per block of 32 columns, kPanelBlockBytes:
//   codes [8 column quads][32 rows][4 codes] u8   (1024 bytes)
//   sw    [32 rows] float: the block's weight scale
//   m     [32 rows] float: sw · (zero − zero_offset)
// Rows past the layer's end are zero. Built per panel in thread scratch.
constexpr int64_t kPanelBlockBytes = 1024 + 2 * 4 * kPanelRows;
inline size_t panel_bytes(int64_t n_blocks) { return static_cast<size_t>(n_blocks * kPanelBlockBytes); }
void repack_panel(const PackedLinear& w, int64_t r0, int64_t rows, int zero_offset, uint8_t* panel);

struct KernelTable {
  MatvecQFn matvec_q4 = nullptr, matvec_q8 = nullptr;
  MatmulQFn matmul_q4 = nullptr, matmul_q8 = nullptr;
  MatvecDenseFn matvec_f32 = nullptr, matvec_f16 = nullptr, matvec_bf16 = nullptr;
};

const KernelTable& kernels_scalar();

// Y[t·out + r] for r in [r0, r1), all n tokens, dense weights (no bias).
void dense_matmul_rows(const PackedLinear& w, const float* x, int64_t n, int64_t r0, int64_t r1, float* y);
// Null when this build has no such kernels (non-x86 targets).
const KernelTable* kernels_avx2();
const KernelTable* kernels_avx512();

// The calling thread's scratch buffer number `slot`, at least `bytes` long and
// 64-byte aligned; it only grows (contents are not kept across growth).
// Slots 0-1: activations (dispatcher, calling thread); 2: kernel panels (any thread).
uint8_t* thread_scratch(int slot, size_t bytes);

// Where block b's 32 int4 codes lie in a row: byte offset of its first code and
// nibble shift (0 low, 4 high); the block's codes are 32 consecutive bytes.
inline void int4_block_location(int64_t b, int64_t n_blocks, int64_t& byte_offset, int& shift) {
  const int64_t chunk = b & ~int64_t{3}, within = b & 3;
  if (chunk + 4 <= n_blocks) {  // full chunk of 128 columns: blocks 0,1 low nibbles, 2,3 high
    byte_offset = chunk * 16 + (within & 1) * 32;
    shift = static_cast<int>(within >> 1) * 4;
  } else {  // final chunk of 64 columns: block 0 low, block 1 high
    byte_offset = chunk * 16;
    shift = static_cast<int>(within) * 4;
  }
}

// Block b's zero point (not minus one) in row r.
inline int block_zero(const PackedLinear& w, int64_t r, int64_t b) {
  if (!w.zeros) return w.uniform_zero;
  const uint8_t* z = w.zeros.get() + r * w.zero_row_bytes;
  if (w.format == WeightFormat::kInt8) return z[b] + 1;
  return ((z[b >> 1] >> ((b & 1) * 4)) & 0xF) + 1;
}

// Block b's code k (0..31) in row r.
inline int block_code(const PackedLinear& w, int64_t r, int64_t b, int k) {
  const uint8_t* row = w.codes.get() + r * w.code_row_bytes;
  if (w.format == WeightFormat::kInt8) return row[b * 32 + k];
  int64_t off;
  int shift;
  int4_block_location(b, w.n_blocks, off, shift);
  return (row[off + k] >> shift) & 0xF;
}

}  // namespace slmkit::runtime::detail
