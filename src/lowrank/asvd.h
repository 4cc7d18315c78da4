// ASVD (Yuan et al. 2023, "ASVD: Activation-aware Singular Value Decomposition
// for Compressing Large Language Models"): scale each input channel by how
// large its activations are before the SVD, so that channels carrying large
// inputs (outliers) are approximated more precisely:
//   S = diag(mean_t |x_t|^α),  W·S = U Σ Vᵀ,  A = √Σ_r V_rᵀ S⁻¹,  B = U_r √Σ_r.
// α = 0.5 is the paper's default. (ASVD's perplexity-driven per-layer rank
// search is not reproduced; ranks come from rank_allocation.h.)
#pragma once

#include <cstdint>

#include <ATen/ATen.h>

#include "lowrank/decomposition.h"

namespace slmkit {

struct AsvdConfig {
  double alpha = 0.5;  // exponent of the mean absolute activation
  // Scales below floor · max(S) are raised to it, so S⁻¹ stays finite for
  // channels that were (almost) never active during calibration.
  double floor = 1e-6;
};

struct AsvdStats {
  int64_t floored_channels = 0;  // input channels whose scale was raised to the floor
};

// weight: [out, in]; abs_mean: [in], mean |x| per input channel over the
// calibration tokens (InputStats::abs_mean()).
Decomposition decompose_asvd(const at::Tensor& weight, const at::Tensor& abs_mean, const AsvdConfig& config = {},
                             AsvdStats* stats = nullptr);

}  // namespace slmkit
