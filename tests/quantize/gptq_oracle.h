// Test oracle for quantize_gptq: a plain float64 transliteration of GPTQ as
// IST-DASLab's gptq.py runs it (docs: shared/reference/quantization.md §1.1),
// one column at a time with its error fed straight onto every later column (no
// lazy batches), its own Cholesky factorizations and its own min/max grid. It
// shares no code with src/quantize, so a common mistake cannot hide.
//
// Choices it shares with slmkit on purpose (documented in src/quantize): a
// dynamic group's grid is fitted to the fully updated weights; the per-row grid is
// fitted after dead inputs are zeroed; a symmetric grid always spans [−amax, amax].
#pragma once

#include <cstdint>

#include <ATen/ATen.h>

#include "model/quantized_weights.h"

namespace slmkit::test {

struct OracleOptions {
  int bits = 4;
  int64_t group_size = -1;  // ≤ 0: one grid per row
  bool symmetric = false;
  bool act_order = false;
  bool static_groups = false;
  double percdamp = 0.01;
};

struct OracleResult {
  at::Tensor dequantized;  // float64 [out, in], original column order
  at::Tensor g_idx;        // int64 [in], group of each original column
  double damp = 0;         // λ added to the diagonal
};

// weight [out, in], hessian [in, in] (any floating dtype). Throws std::runtime_error
// if the damped Hessian is not positive-definite (the oracle never retries).
OracleResult gptq_oracle(const at::Tensor& weight, const at::Tensor& hessian, const OracleOptions& options);

// float64 [out, in]: scale[o, g_idx[i]] · (code[o, i] − zero[o, g_idx[i]]), written
// out here so the tests do not depend on IntegerWeights::dequantize.
at::Tensor dequantize_plain(const IntegerWeights& q);

}  // namespace slmkit::test
