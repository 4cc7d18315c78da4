// Group-wise integer weights: the quantized form of a Linear.
//
// Two representations of the same numbers:
//  * IntegerWeights — unpacked, what a quantization method produces and what
//    tests reason about: w[o, i] ≈ scale[o, g] · (code[o, i] − zero[o, g]),
//    g = g_idx[i].
//  * QuantizedWeights — packed exactly as AutoGPTQ's "gptq" checkpoint format
//    (qweight/qzeros/scales/g_idx, int32 words, LSB first, stored zero − 1),
//    what the Model holds in memory and what is saved; 2/3/4/8 bits.
#pragma once

#include <cstdint>

#include <ATen/ATen.h>

namespace slmkit {

struct IntegerWeights {
  int bits = 4;                // 2..8
  int64_t group_size = 0;      // input columns per group; in_features for per-row
  bool symmetric = false;
  at::Tensor codes;            // int32 [out, in], values in [0, 2^bits − 1]
  at::Tensor scales;           // float32 [out, n_groups]
  at::Tensor zeros;            // int32 [out, n_groups]; GPTQ v1 can store [1, 2^bits] (zero − 1 in bits)
  at::Tensor g_idx;            // int32 [in], group of each input column (i / group_size unless act-order)

  int64_t out_features() const { return codes.size(0); }
  int64_t in_features() const { return codes.size(1); }
  int64_t n_groups() const { return scales.size(1); }
  // float32 [out, in]: scale · (code − zero), scales used as stored (fp32 here).
  at::Tensor dequantize() const;
};

struct QuantizedWeights {
  int bits = 4;
  int64_t group_size = 0;
  bool symmetric = false;
  int64_t in_features = 0, out_features = 0;
  at::Tensor qweight;  // int32 [ceil(in·bits/32), out], packed along the input dim
  at::Tensor qzeros;   // int32 [n_groups, ceil(out·bits/32)], packed along the output dim, zero − 1
  at::Tensor scales;   // float16 [n_groups, out]
  at::Tensor g_idx;    // int32 [in]

  int64_t n_groups() const { return scales.size(0); }
  // [out, in] in `dtype`: scales[g_idx[i], o] · (q[i, o] − zero[g_idx[i], o]).
  at::Tensor dequantize(at::ScalarType dtype = at::kFloat) const;
  // Bytes of qweight + qzeros + scales + g_idx.
  int64_t storage_bytes() const;
};

// Packs (scales rounded to float16, as the format stores them).
QuantizedWeights pack_gptq(const IntegerWeights& w);
// Unpacks; pack_gptq(unpack_gptq(q)) == q bit for bit.
IntegerWeights unpack_gptq(const QuantizedWeights& q);

}  // namespace slmkit
