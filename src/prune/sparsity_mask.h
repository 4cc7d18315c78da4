// Unstructured and N:M sparsity masks: which weights of a [out, in] matrix to
// set to zero. The weights stay dense (zeros stored), so the model keeps its
// shape; only a sparse format or kernel could turn the zeros into savings.
//  * magnitude: the smallest |W| of the whole matrix.
//  * wanda (Sun et al., ICLR 2024): the smallest |W_ij|·‖X_j‖₂, compared within
//    each output row (the paper's comparison group).
// Counts are exact: a mask prunes round(sparsity · group size) weights of each
// comparison group (ties broken by position), not "everything under a threshold".
#pragma once

#include <cstdint>
#include <string>

#include <ATen/ATen.h>

namespace slmkit {

// N:M semi-structured sparsity, NVIDIA's convention: in every group of M
// consecutive weights of a row at most N stay non-zero (2:4 keeps 2 of 4).
struct NmPattern {
  int64_t keep = 0;   // N
  int64_t group = 0;  // M; 0 = no pattern (unstructured)

  bool enabled() const { return group > 0; }
  double sparsity() const { return enabled() ? 1.0 - static_cast<double>(keep) / static_cast<double>(group) : 0.0; }
};

// "2:4" → {2, 4}; "" → no pattern. Throws Error for anything else (N must be in [0, M)).
NmPattern parse_nm_pattern(const std::string& text);

struct SparsityConfig {
  double sparsity = 0.5;  // fraction of each comparison group set to zero (ignored with a pattern)
  NmPattern pattern;      // N:M instead of a free fraction

  // The fraction actually removed: the pattern's when one is set.
  double effective_sparsity() const { return pattern.enabled() ? pattern.sparsity() : sparsity; }
};

// Throws Error for a sparsity outside [0, 1) or a pattern that does not divide `in_features`.
void check_sparsity_config(const SparsityConfig& config, int64_t in_features);

// True where the weight is pruned: per group of `pattern`, or else the lowest
// `sparsity` share of `score` [out, in] within each row (per_row) or the whole matrix.
at::Tensor lowest_score_mask(const at::Tensor& score, const SparsityConfig& config, bool per_row);

// weight [out, in] → bool mask [out, in] (true = prune).
at::Tensor magnitude_mask(const at::Tensor& weight, const SparsityConfig& config);
// input_l2: ‖X_j‖₂ over the calibration tokens, [in].
at::Tensor wanda_mask(const at::Tensor& weight, const at::Tensor& input_l2, const SparsityConfig& config);

}  // namespace slmkit
