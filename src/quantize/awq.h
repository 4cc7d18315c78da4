// AWQ, activation-aware weight quantization (Lin et al., MLSys 2024), as
// implemented in mit-han-lab/llm-awq (auto_scale.py, auto_clip.py): per
// decoder block, a grid search for per-input-channel scales s that protect the
// channels with large activations, folded exactly into the preceding norm or
// linear, then a search for per-(row, group) clipping ranges. The quantization
// itself is left to RTN on the same grid.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

#include "model/model.h"
#include "quantize/quant_config.h"

namespace slmkit {

struct AwqConfig {
  QuantGrid grid{4, 128, false};  // the grid RTN will use afterwards; the searches quantize on it
  int n_grid = 20;                // scale search: ratios 0, 1/n_grid, …, (n_grid−1)/n_grid
  bool clip = true;               // run the clip search (every linear but q/k)
  int clip_grid = 20;             // clip candidates amax·(1 − i/clip_grid) …
  double max_shrink = 0.5;        // … for i < max_shrink·clip_grid (0.5 → 10 candidates, down to 0.55·amax)
  int64_t clip_tokens = 512;      // at most this many evenly strided tokens in the clip error
  int64_t chunk = 8;              // windows per forward while measuring losses (bounds activation memory)
  // Test-only: ≥ 0 skips the scale search and folds s(fixed_ratio) for every
  // group, so tests can check the folding is exact with scales far from 1.
  double fixed_ratio = -1;
};

struct AwqBlockStats {
  // One entry per scaled group, named "prev_op -> linears" (e.g. "up_proj -> down_proj").
  std::vector<std::pair<std::string, double>> best_ratio;
  // Output MSE of the group's sub-layer vs full precision with the group's
  // linears pseudo-quantized: unscaled (ratio 0, s = 1) and with the best s.
  std::vector<std::pair<std::string, double>> loss_before, loss_after;
  int64_t clipped_linears = 0;  // linears whose clipping ranges were searched and applied
};

// Applies AWQ's scale search and weight clipping to block `layer` of `model` IN
// PLACE: scales are folded into the preceding norm weight (and bias) or linear
// rows, the scaled linears' weights multiplied by s, and weights clamped to the
// searched ranges. Weights stay dense in the model's dtype; the caller then
// quantizes them with RTN on the same grid. `inputs` [N, L, hidden] are the
// block's full-precision inputs (llm-awq propagates unquantized activations).
//
// Groups (Llama family): input_layernorm → q,k,v (loss on the attention
// sub-layer); v_proj → o_proj only without GQA; post_attention_layernorm →
// gate,up (loss on the MLP); up_proj → down_proj. GPT-2: the same without
// up → down (GELU sits between them) and with the LayerNorm bias scaled too.
void awq_transform_block(Model& model, int64_t layer, const at::Tensor& inputs, const AwqConfig& config,
                         AwqBlockStats* stats = nullptr);

}  // namespace slmkit
