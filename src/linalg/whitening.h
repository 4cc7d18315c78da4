// Whitening by the Cholesky factor of an input Gram matrix.
//
// G = Σ_t x_t x_tᵀ = XᵀX ([in, in]; the rows of X are tokens, as InputStats::xtx).
// With G = L Lᵀ (L lower triangular), the output error of any weight change
// ΔW [out, in] on those inputs is
//   ‖X ΔWᵀ‖_F² = tr(ΔW G ΔWᵀ) = ‖ΔW L‖_F²,
// so a Frobenius-norm problem on W·L is the output-error problem on W. Truncating
// the SVD of W·L therefore drops exactly Σ_{i>r} σ_i² of output error (SVD-LLM's
// truncation-aware whitening); the same factor serves low-rank compensation of
// quantization or pruning error (fit ΔW·L, map back with L⁻¹).
//
// Shared numerics below the passes (low-rank, quantization); no I/O.
#pragma once

#include <cstdint>

#include <ATen/ATen.h>

namespace slmkit {

struct WhiteningConfig {
  // λ added to the diagonal on the first attempt, relative to mean(diag G).
  // 0 factors G itself, as SVD-LLM does; a small value is a ridge that keeps
  // the solution near W in directions the calibration never excites.
  double percdamp = 0.0;
  // When a factorization fails (G only positive semi-definite: fewer tokens than
  // inputs, collinear channels, or float32 accumulation error), λ becomes
  // max(10·λ, min_retry_damp·mean diag) and the factorization is retried.
  double min_retry_damp = 1e-8;
  int max_retries = 10;
  // A factorization whose smallest pivot L_ii² is below min_pivot · mean(diag G)
  // counts as failed: with rank-deficient statistics rounding can let Cholesky
  // "succeed" with pivots of 1e-16, and L⁻¹ would then amplify noise by 10⁸.
  double min_pivot = 1e-10;
};

// L with L Lᵀ = G' + λI, where G' is G symmetrized, in float64, with dead inputs
// (diag G == 0: never active in calibration) given the mean live diagonal.
// Their rows/columns of G are zero, so L keeps them apart from every live input
// and whitens them like an average channel: a fit in whitened coordinates then
// keeps their weights at the scale of the others instead of leaving them free
// (L_jj → 0 would let L⁻¹ blow them up). Callers that prefer GPTQ's choice zero
// those weights themselves.
struct WhiteningFactor {
  at::Tensor lower;      // float64 [n, n], lower triangular
  at::Tensor dead;       // bool [n], true for dead inputs
  double damp = 0;       // λ actually added (absolute, in G's units)
  int retries = 0;       // how many times λ had to be raised
  int64_t dead_inputs = 0;

  int64_t size() const { return lower.size(0); }
  // M [k, n] → M·L (into whitened coordinates). float64 result.
  at::Tensor whiten(const at::Tensor& m) const;
  // M [k, n] → M·L⁻¹ by a triangular solve, never forming L⁻¹ (back to input
  // coordinates). float64 result.
  at::Tensor unwhiten(const at::Tensor& m) const;
};

// gram: symmetric [n, n] float32 or float64 (positive semi-definite up to
// rounding). Throws Error when no λ up to the retry limit makes G + λI
// factorizable (a NaN/Inf in the statistics, typically) — the message says so.
WhiteningFactor whitening_factor(const at::Tensor& gram, const WhiteningConfig& config = {});

}  // namespace slmkit
