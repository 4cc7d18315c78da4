// Whole-model low-rank error compensation (EoRA/LQER style): for each block
// linear whose compressed weight Ŵ differs from the original W, a rank-r
// correction B·A of W − Ŵ, whitened by the linear's calibration inputs, becomes
// a LoRA adapter deployable beside the compressed model.
//
// Blocks are walked with the calibration engine on the compressed model; each
// block's inputs are those of the compressed model with the corrections of
// earlier blocks already attached, i.e. what the deployed pair sees.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "lowrank/error_compensation.h"
#include "lowrank/lora.h"
#include "model/model.h"

namespace slmkit {

struct CompensateRecipe {
  CompensationConfig method;  // rank and whitening ridge
  int64_t chunk = 8;          // calibration windows per forward call
};

struct CompensationReport {
  std::string name;
  int64_t out_features = 0, in_features = 0;
  std::string form;          // the compressed weight's form: "quantized", "dense", "low-rank"
  CompensationStats stats;   // relative output error before / after, rank, damping
  double seconds = 0;
};

struct CompensateSummary {
  LoraAdapter adapter;  // scaling 1 (lora_alpha = r), one module per compensated linear
  std::vector<CompensationReport> tensors;
  int64_t adapter_parameters = 0;
  int64_t compensated_weights = 0;     // Σ out·in of the compensated linears
  double extra_bits_per_weight = 0;    // adapter parameters × 16 bits / compensated_weights
  double seconds = 0;
};

using CompensationProgress = std::function<void(const CompensationReport&, int64_t done, int64_t total)>;

// compressed: the quantized/pruned model (gets the adapter attached, unmerged);
// base: the original model it was made from (same shapes); windows: int64 [N, L].
CompensateSummary compensate_model(Model& compressed, const Model& base, const at::Tensor& windows,
                                   const CompensateRecipe& recipe, const CompensationProgress& progress = {});

}  // namespace slmkit
