// CPU kernels for the edge runtime's linear layers (LibTorch-free).
//
//   PackedLinear w = pack_gptq(qweight, qzeros, scales, &g_idx, bits);  // once, at load time
//   matvec(w, x, bias, y);           // decode: y[out] = W x[in] (+ bias)
//   matmul(w, X, n, bias, Y);        // prefill: Y[n, out] = X[n, in] Wᵀ (+ bias)
//
// Quantized weights (GPTQ int2/3/4/8 with group scales and zero points) are
// repacked at load time into blocks of 32 input columns in group order (act-order
// g_idx columns are permuted into group order and x is gathered to match); every
// block carries its group's fp16 scale and zero point. The kernels quantize the
// activations to int8 per block of 32 (scale = max|x| / 127, round to nearest
// even — llama.cpp's Q8_0 rule) and form integer dot products (AVX-512 VNNI
// vpdpbusd, AVX2 vpmaddubsw, or scalar), so every path computes the same numbers
// up to the order of float additions:
//   y[o] = bias[o] + Σ_b sw[o,b] · sx[b] · Σ_{k∈b} (q[o,k] − z[o,b]) · xq[k]
// (sw, z: the weight group's scale and zero; sx, xq: block b's activation scale
// and int8 codes). matvec_reference / matmul_reference compute exactly that in
// double. Dense weights keep their storage type (fp32, fp16 or bf16) and use
// fp32 activations.
//
// Threads: matvec/matmul split the output rows across OpenMP threads
// (omp_get_max_threads(), set it with omp_set_num_threads). Scratch: activation
// buffers and matmul panels live in per-thread buffers that only grow; after the
// first call at the largest shape (or reserve_kernel_scratch) no call allocates.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/dtype.h"
#include "core/tensor_view.h"
#include "runtime/cpu_features.h"

namespace slmkit::runtime {

enum class WeightFormat {
  kInt4,   // 2-, 3- and 4-bit codes, two per byte
  kInt8,   // 8-bit codes, one per byte
  kDense,  // fp32 / fp16 / bf16, row-major [out, in], as stored
};

// A linear layer's weight repacked for the kernels. Built once at load time;
// immutable afterwards, so copies share the storage.
struct PackedLinear {
  int64_t out_features = 0, in_features = 0;
  WeightFormat format = WeightFormat::kDense;
  int bits = 0;  // code bits of the source (2, 3, 4, 8); 32/16 for dense

  // --- quantized layout (format kInt4 / kInt8) -------------------------------
  // The input columns in "packed order": groups one after another, each padded
  // with zero columns to whole blocks of 32, the total padded to an even number
  // of blocks. k_padded = 32 · n_blocks.
  int64_t k_padded = 0, n_blocks = 0;
  // in_index[k]: the input column at packed position k, −1 for padding. Empty
  // when packed order is the input order (contiguous groups, multiple of 32).
  std::vector<int32_t> in_index;
  // codes: per row code_row_bytes. int4: chunks of 128 columns in 64 bytes,
  // byte j = code[j] | code[j+64] << 4; a final chunk of 64 columns in 32 bytes,
  // byte j = code[j] | code[j+32] << 4. int8: one byte per column.
  int64_t code_row_bytes = 0;
  std::shared_ptr<const uint8_t> codes;
  // scales: fp16 bits [out, n_blocks] (the group scale of each block).
  std::shared_ptr<const uint16_t> scales;
  // zeros: (zero − 1) per block [out, zero_row_bytes]: int4 two per byte (block
  // 2j low nibble, 2j+1 high), int8 one per byte. Null when every zero point is
  // `uniform_zero` (symmetric quantization).
  int64_t zero_row_bytes = 0;
  std::shared_ptr<const uint8_t> zeros;
  int uniform_zero = 0;

  // --- dense layout (format kDense) ------------------------------------------
  DType dense_dtype = DType::F32;
  const void* dense = nullptr;         // [out, in] in dense_dtype
  std::shared_ptr<const void> dense_owner;  // keeps `dense` alive

  // Bytes the kernels read per full matvec (codes + scales + zeros, or the dense matrix).
  int64_t weight_bytes() const;
};

// The GPTQ v1 ("gptq") tensors of one linear, exactly as AutoGPTQ/slmkit store them:
//   qweight int32 [ceil(in·bits/32), out]   codes packed along the input dim, LSB first
//   qzeros  int32 [n_groups, ceil(out·bits/32)]  (zero − 1) packed along the output dim
//   scales  fp16  [n_groups, out]
//   g_idx   int32 [in]   group of each input column; null: i / group_size
struct GptqTensors {
  int bits = 4;                // 2, 3, 4 or 8
  int64_t in_features = 0, out_features = 0;
  int64_t n_groups = 0;
  int64_t group_size = 0;      // used only when g_idx is null; ≤ 0: one group per row
  const int32_t* qweight = nullptr;
  const int32_t* qzeros = nullptr;
  const uint16_t* scales = nullptr;  // IEEE half bits
  const int32_t* g_idx = nullptr;
};

// Repacks GPTQ tensors (copies; the sources may be unmapped afterwards). Throws
// slmkit::Error on inconsistent shapes or out-of-range g_idx.
PackedLinear pack_gptq(const GptqTensors& t);
// The same from the views the io readers hand out; g_idx may be null (then
// group_size gives the contiguous map and in = qweight rows · 32 / bits).
PackedLinear pack_gptq(const TensorView& qweight, const TensorView& qzeros, const TensorView& scales,
                       const TensorView* g_idx, int bits, int64_t group_size = 0);

// Dense weights, row-major [out, in], fp32 / fp16 / bf16, kept in their storage
// type (the decode path is memory-bound: half the bytes, twice the speed).
// This overload borrows the view's bytes and keeps its owner alive (no copy).
PackedLinear pack_dense(const TensorView& weight);
// This one copies.
PackedLinear pack_dense(const void* data, DType dtype, int64_t out_features, int64_t in_features);

// Round-to-nearest symmetric quantization of a dense layer at load time (bits 4
// or 8, one scale per block of 32 inputs: scale = max|w| / (2^(bits−1) − 1),
// zero 2^(bits−1)), for layers a checkpoint keeps dense but that dominate the
// decode bytes — a 32000-row fp16 lm_head is 131 MB, int8 70 MB. Changes the
// model's numbers (each weight by at most scale/2): the caller decides.
PackedLinear quantize_dense_rtn(const PackedLinear& dense, int bits);

// y[out] = W x[in] (+ bias if non-null). Decode path; OpenMP across output rows.
void matvec(const PackedLinear& w, const float* x, const float* bias, float* y);

// Several matvecs on the same x (q/k/v, gate/up): one parallel region, and the
// activations are quantized once when the layers share their packed input order.
struct MatvecTask {
  const PackedLinear* w = nullptr;
  const float* bias = nullptr;  // may be null
  float* y = nullptr;           // [w->out_features]
};
void matvec_fused(const MatvecTask* tasks, int count, const float* x);

// Y[n, out] = X[n, in] Wᵀ (+ bias). Prefill path; X and Y row-major, dense.
void matmul(const PackedLinear& w, const float* x, int64_t n, const float* bias, float* y);

// Pre-grows the calling thread's and every OpenMP thread's scratch for inputs up
// to max_in_features columns and max_tokens rows, so later calls allocate nothing.
void reserve_kernel_scratch(int64_t max_in_features, int64_t max_tokens);

// --- references (plain scalar, double accumulation) -----------------------
// They decode the codes one at a time from the packed storage and follow the
// formula in the header comment literally; every SIMD path is tested against them.
void matvec_reference(const PackedLinear& w, const float* x, const float* bias, float* y);
void matmul_reference(const PackedLinear& w, const float* x, int64_t n, const float* bias, float* y);

// The weights as fp32 [out, in] in input order: scale · (code − zero), exact.
std::vector<float> dequantize(const PackedLinear& w);

// Int8 activation quantization used by every path (exposed for tests and the
// references): x[in] gathered into packed order, codes q[k_padded], per-block
// scale sx[n_blocks] and sx · Σ q per block in sum_scaled[n_blocks].
void quantize_activations(const PackedLinear& w, const float* x, int8_t* q, float* sx, float* sum_scaled);

}  // namespace slmkit::runtime
