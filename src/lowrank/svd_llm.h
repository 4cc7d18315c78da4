// SVD-LLM (Wang et al. 2024, "SVD-LLM: Truncation-aware Singular Value
// Decomposition for Large Language Model Compression"): whiten the weight with
// the Cholesky factor L of the calibration inputs' Gram matrix G = XᵀX = L Lᵀ,
//   W·L = U Σ Vᵀ,   B = U_r √Σ_r,   A = √Σ_r V_rᵀ L⁻¹  (a triangular solve),
// so that truncation minimises the output error ‖X(W − B·A)ᵀ‖_F rather than
// the weight error, and each dropped σ_i² is exactly the output error it
// causes (the paper's Theorem; tested in tests/lowrank).
//
// The optional parameter update refits B in closed form for the fixed A
// (SVD-LLM updates the factors by LoRA fine-tuning instead; a least-squares
// refit needs no gradient and no data beyond the calibration statistics).
#pragma once

#include <cstdint>

#include <ATen/ATen.h>

#include "linalg/whitening.h"
#include "lowrank/decomposition.h"

namespace slmkit {

struct SvdLlmConfig {
  // The reference factors G itself and only adds a shift when Cholesky fails;
  // percdamp 0 does the same (see WhiteningConfig).
  WhiteningConfig whitening;
};

struct SvdLlmStats {
  double damp = 0;          // λ added to G's diagonal (absolute)
  int retries = 0;          // times λ was raised until G + λI factored
  int64_t dead_inputs = 0;  // inputs never active in calibration (treated as average channels)
};

// weight: [out, in]; gram: XᵀX [in, in] (float32 or float64).
Decomposition decompose_svd_llm(const at::Tensor& weight, const at::Tensor& gram, const SvdLlmConfig& config = {},
                                SvdLlmStats* stats = nullptr);

// The B that minimises Σ_t ‖W x_t − B A x̂_t‖² for fixed A, in closed form:
//   B = W C Aᵀ (A Ĝ Aᵀ)⁻¹,   C = Σ_t x_t x̂_tᵀ,   Ĝ = Σ_t x̂_t x̂_tᵀ,
// where x̂ are the inputs the factorized layer really sees (earlier layers
// already compressed) and x the dense model's inputs at the same tokens. With
// x̂ = x pass C = Ĝ = G; for SVD-LLM's own A and an undamped G the result is
// SVD-LLM's B again, so the refit helps when the inputs drifted, the whitening
// was damped, or A came from a method that ignores G (plain SVD, ASVD).
// weight [out, in], a [r, in], cross and gram_hat [in, in] → float64 [out, r].
// `percdamp` (relative to mean diag of A Ĝ Aᵀ) guards a singular system.
at::Tensor refit_b(const at::Tensor& weight, const at::Tensor& a, const at::Tensor& cross, const at::Tensor& gram_hat,
                   double percdamp = 1e-8);

}  // namespace slmkit
