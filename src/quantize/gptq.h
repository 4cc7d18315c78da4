// GPTQ (Frantar et al., ICLR 2023) as implemented in IST-DASLab/gptq: column by
// column quantization with optimal-brain-surgeon error feedback through the
// inverse Hessian of the layer's inputs, lazy batch updates, optional
// act-order and static groups.
#pragma once

#include <cstdint>

#include <ATen/ATen.h>

#include "model/quantized_weights.h"
#include "quantize/quant_config.h"

namespace slmkit {

struct GptqConfig {
  QuantGrid grid;
  double percdamp = 0.01;     // λ = percdamp · mean(diag H), added to the diagonal
  int64_t block_size = 128;   // lazy-batch width (columns)
  bool act_order = false;     // columns in order of decreasing diag(H)
  bool static_groups = false; // group grids fixed up front in original column order
  int max_damp_retries = 8;   // Cholesky failure → damping ×10, up to this many times
};

struct GptqStats {
  double damp_used = 0;        // λ actually added (after any retries)
  int damp_retries = 0;
  bool factor_fp64 = false;    // float32 factorization failed and float64 was used
  int64_t dead_columns = 0;    // diag(H) == 0: inputs never active, weights set to 0
  double weighted_error = 0;   // Σ over columns of err² / Hinv_ii²  (GPTQ's Losses, summed)
};

// weight [out, in] float; hessian [in, in] float32 (∝ Σ x xᵀ over calibration tokens).
IntegerWeights quantize_gptq(const at::Tensor& weight, const at::Tensor& hessian, const GptqConfig& config,
                             GptqStats* stats = nullptr);

}  // namespace slmkit
