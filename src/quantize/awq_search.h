// The numerical pieces of AWQ, separate from the block walk in awq.cpp so the
// tests can check each one: llm-awq's pseudo-quantizer, the scale candidates
// and the clip search. All take and return float32 tensors.
#pragma once

#include <ATen/ATen.h>

#include "quantize/awq.h"
#include "quantize/quant_config.h"

namespace slmkit {

// llm-awq's pseudo_quantize_tensor: quantize and dequantize weight [out, in] in
// groups of grid.group_size input columns (a last partial group is its own
// group; llm-awq requires in % group == 0). Asymmetric: scale = (max − min,
// at least 1e-5)/maxq, zero = clamp(−round(min/scale), 0, maxq); symmetric:
// scale = max(amax, 1e-5)/(2^(bits−1) − 1), codes in [−2^(bits−1), 2^(bits−1) − 1].
// Unlike RTN's grid the range is not widened to include 0: this is what
// llm-awq measures its losses with.
at::Tensor awq_pseudo_quantize(const at::Tensor& weight, const QuantGrid& grid);

// Scale candidate for channel mean |x| `x_abs_mean` [in]:
// s = clamp(x_abs_mean^ratio, 1e-4), normalised by sqrt(max(s)·min(s)) so the
// scales straddle 1. Ratio 0 gives s = 1 exactly.
at::Tensor awq_scale_candidate(const at::Tensor& x_abs_mean, double ratio);

struct AwqClipResult {
  at::Tensor max_val;          // [out, n_groups]: weights of (row, group) are clamped to ±max_val
  at::Tensor error_unclipped;  // [out, n_groups]: the measured error at max_val = amax (no clipping)
  at::Tensor error_best;       // [out, n_groups]: the error at the chosen max_val (≤ error_unclipped)
};

// llm-awq's auto_clip_layer: for each (row, group) tries max_val =
// amax·(1 − i/clip_grid), i < max_shrink·clip_grid, and keeps the one whose
// pseudo-quantized, clamped group gives the smallest mean over tokens of
// (x_g·w_g − x_g·Q(clamp(w_g)))². x_tokens [T, in] are the layer's inputs (the
// caller subsamples them). Ties keep the larger range, so i = 0 wins unless
// clipping strictly helps.
AwqClipResult awq_search_clip(const at::Tensor& weight, const at::Tensor& x_tokens, const AwqConfig& config);

// weight [out, in] with each (row, group) clamped to ±max_val [out, n_groups].
at::Tensor awq_apply_clip(const at::Tensor& weight, const at::Tensor& max_val, const QuantGrid& grid);

}  // namespace slmkit
