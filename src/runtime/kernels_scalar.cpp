// Portable kernels: the packed layout read one code at a time, fp32
// accumulation. The fallback where no SIMD path is available.
#include <cstring>

#include "runtime/kernels_internal.h"

namespace slmkit::runtime::detail {
namespace {

// Σ_k code · xq over block b of row r.
inline int32_t block_dot(const PackedLinear& w, const uint8_t* row, int64_t b, const int8_t* xq) {
  int32_t dot = 0;
  if (w.format == WeightFormat::kInt8) {
    const uint8_t* c = row + b * 32;
    for (int k = 0; k < 32; ++k) dot += c[k] * xq[k];
    return dot;
  }
  int64_t off;
  int shift;
  int4_block_location(b, w.n_blocks, off, shift);
  for (int k = 0; k < 32; ++k) dot += ((row[off + k] >> shift) & 0xF) * xq[k];
  return dot;
}

void matvec_q(const PackedLinear& w, const ActQ8& x, int64_t r0, int64_t r1, float* y) {
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* row = w.codes.get() + r * w.code_row_bytes;
    const uint16_t* sc = w.scales.get() + r * w.n_blocks;
    float acc = 0.0f;
    for (int64_t b = 0; b < w.n_blocks; ++b) {
      const float s = f16_to_f32(sc[b]);
      const int32_t dot = block_dot(w, row, b, x.q + b * 32);
      // sw·sx·(dot − z·Σq) with sx·Σq precomputed in x.c
      acc += s * x.sx[b] * static_cast<float>(dot) - s * static_cast<float>(block_zero(w, r, b)) * x.c[b];
    }
    y[r] = acc;
  }
}

void matmul_q(const PackedLinear& w, const ActBatchQ8& x, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  for (int64_t t = 0; t < x.n; ++t) matvec_q(w, x.token(t), r0, r1, y + t * ldy);
}

template <typename Load>
void matvec_dense(const PackedLinear& w, const float* x, int64_t r0, int64_t r1, float* y, Load load) {
  const int64_t in = w.in_features;
  for (int64_t r = r0; r < r1; ++r) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};  // independent sums: vectorizable, shorter chains
    int64_t i = 0;
    for (; i + 8 <= in; i += 8)
      for (int j = 0; j < 8; ++j) acc[j] += load(r * in + i + j) * x[i + j];
    for (; i < in; ++i) acc[0] += load(r * in + i) * x[i];
    y[r] = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  }
}

void matvec_f32(const PackedLinear& w, const float* x, int64_t r0, int64_t r1, float* y) {
  const float* d = static_cast<const float*>(w.dense);
  matvec_dense(w, x, r0, r1, y, [d](int64_t i) { return d[i]; });
}

void matvec_f16(const PackedLinear& w, const float* x, int64_t r0, int64_t r1, float* y) {
  const uint16_t* d = static_cast<const uint16_t*>(w.dense);
  matvec_dense(w, x, r0, r1, y, [d](int64_t i) { return f16_to_f32(d[i]); });
}

void matvec_bf16(const PackedLinear& w, const float* x, int64_t r0, int64_t r1, float* y) {
  const uint16_t* d = static_cast<const uint16_t*>(w.dense);
  matvec_dense(w, x, r0, r1, y, [d](int64_t i) {
    const uint32_t bits = static_cast<uint32_t>(d[i]) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  });
}

}  // namespace

namespace {
// IEEE half → float without branches for finite values (the panel repack runs
// once per block and row, so the library's careful loop shows up there): the
// half's exponent and mantissa, shifted into a float, scaled by 2^112, give the
// value exactly, subnormals included.
inline float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t em = h & 0x7FFFu;
  if (em >= 0x7C00u) {  // inf / NaN
    const uint32_t bits = sign | 0x7F800000u | ((em & 0x3FFu) << 13);
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  }
  const uint32_t scaled = em << 13;
  float f;
  std::memcpy(&f, &scaled, 4);
  f *= 0x1p112f;
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  bits |= sign;
  std::memcpy(&f, &bits, 4);
  return f;
}
}  // namespace

void repack_panel(const PackedLinear& w, int64_t r0, int64_t rows, int zero_offset, uint8_t* panel) {
  const int64_t nb = w.n_blocks;
  const bool int8 = w.format == WeightFormat::kInt8;
  // Block by block: one block's record (1.25 KiB) stays in L1 while its 32 rows are
  // written (row by row over the whole panel would stream it through L2 32 times).
  for (int64_t b = 0; b < nb; ++b) {
    uint8_t* rec = panel + b * kPanelBlockBytes;
    float* f = reinterpret_cast<float*>(rec + 1024);
    int64_t off = b * 32;
    int shift = 0;
    if (!int8) int4_block_location(b, nb, off, shift);
    for (int64_t i = 0; i < kPanelRows; ++i) {
      const int64_t r = r0 + i;
      // Four codes at a time as one 32-bit word, straight from the row to the panel.
      uint8_t* dst = rec + i * 4;
      if (i < rows) {
        const uint8_t* src = w.codes.get() + r * w.code_row_bytes + off;
        for (int q = 0; q < 8; ++q) {
          uint32_t four;
          std::memcpy(&four, src + q * 4, 4);
          if (!int8) four = (four >> shift) & 0x0F0F0F0Fu;
          std::memcpy(dst + q * 4 * kPanelRows, &four, 4);
        }
        int zero = w.uniform_zero;
        if (w.zeros) {
          const uint8_t* zrow = w.zeros.get() + r * w.zero_row_bytes;
          zero = (int8 ? zrow[b] : (zrow[b >> 1] >> ((b & 1) * 4)) & 0xF) + 1;
        }
        const float s = half_to_float(w.scales.get()[r * nb + b]);
        f[i] = s;
        f[kPanelRows + i] = s * static_cast<float>(zero - zero_offset);
      } else {  // past the layer's last row
        f[i] = f[kPanelRows + i] = 0.0f;
        for (int q = 0; q < 8; ++q) std::memset(dst + q * 4 * kPanelRows, 0, 4);
      }
    }
  }
}

const KernelTable& kernels_scalar() {
  static const KernelTable table = [] {
    KernelTable t;
    t.matvec_q4 = t.matvec_q8 = matvec_q;
    t.matmul_q4 = t.matmul_q8 = matmul_q;
    t.matvec_f32 = matvec_f32;
    t.matvec_f16 = matvec_f16;
    t.matvec_bf16 = matvec_bf16;
    return t;
  }();
  return table;
}

}  // namespace slmkit::runtime::detail
