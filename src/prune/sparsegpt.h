// SparseGPT (Frantar & Alistarh, ICML 2023) as in IST-DASLab/sparsegpt: prunes
// a linear column by column and, after each column, moves the error of the
// weights it zeroed onto the columns not yet processed through the upper
// Cholesky factor U of the damped inverse Hessian (the optimal-brain-surgeon
// update), in lazy blocks of 128 columns like GPTQ.
// Mask selection is adaptive: at the start of each block (its columns already
// carry the updates so far) the weights with the smallest w²/U_jj² over the
// whole block (all rows) are pruned; with an N:M pattern the M−N smallest of
// each group of M columns of a row are chosen when the sweep reaches the group.
// With H = I no update moves any weight, so the result is magnitude pruning
// per block of columns.
#pragma once

#include <cstdint>

#include <ATen/ATen.h>

#include "prune/sparsity_mask.h"

namespace slmkit {

struct SparseGptConfig {
  SparsityConfig target;     // 50% unstructured by default
  int64_t block_size = 128;  // lazy-batch and mask-selection width (columns); a multiple of M for N:M
  double percdamp = 0.01;    // λ = percdamp · mean(diag H), added to the diagonal
  int max_damp_retries = 8;  // Cholesky failure → damping ×10, up to this many times
};

struct SparseGptStats {
  double damp_used = 0;       // λ actually added
  int64_t dead_columns = 0;   // diag(H) == 0: inputs never active, weights set to 0
  int64_t pruned = 0;         // weights the mask set to zero
  double weighted_error = 0;  // Σ over pruned weights of w²/U_jj² (SparseGPT's Losses ×2)
};

// weight [out, in] float; hessian [in, in] (∝ Σ x xᵀ over calibration tokens).
// Returns the pruned and updated weights, float32 [out, in].
at::Tensor prune_sparsegpt(const at::Tensor& weight, const at::Tensor& hessian, const SparseGptConfig& config,
                           SparseGptStats* stats = nullptr);

}  // namespace slmkit
