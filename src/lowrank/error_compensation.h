// Low-rank compensation of a compression error (the LQER / EoRA line of work):
// given a weight W [out, in], its compressed form Ŵ (quantized, pruned) and the
// calibration inputs' Gram matrix G = XᵀX, find B [out, r], A [r, in] that
// minimise the output error left after compression,
//   ‖X (W − Ŵ − B·A)ᵀ‖_F,
// i.e. SVD-LLM's truncation-aware whitening applied to E = W − Ŵ instead of W:
//   E·L = U Σ Vᵀ (G = L Lᵀ),  B = U_r √Σ_r,  A = √Σ_r V_rᵀ L⁻¹.
// The result is a LoRA delta with scaling 1, deployable as a PEFT adapter next
// to the compressed base (Ŵ x + B A x).
#pragma once

#include <cstdint>

#include <ATen/ATen.h>

#include "linalg/whitening.h"
#include "model/lora_delta.h"

namespace slmkit {

struct CompensationConfig {
  int64_t rank = 16;
  // Ridge on G relative to its mean diagonal: keeps the correction small in
  // directions the calibration hardly excites (see WhiteningConfig).
  WhiteningConfig whitening = [] {
    WhiteningConfig w;
    w.percdamp = 0.01;
    return w;
  }();
};

struct CompensationStats {
  double error_before = 0;  // ‖X(W − Ŵ)ᵀ‖² / ‖X Wᵀ‖² on the calibration inputs
  double error_after = 0;   // ‖X(W − Ŵ − B·A)ᵀ‖² / ‖X Wᵀ‖²
  int64_t rank = 0;         // rank used (≤ config.rank, ≤ min(out, in))
  int64_t dead_inputs = 0;  // inputs never active in calibration: their error columns are not fitted
  double damp = 0;          // λ added to G's diagonal (absolute)
};

// weight, compressed: [out, in] (any floating dtype); gram: XᵀX [in, in].
// Returns float32 factors with scaling 1.
LoraDelta compensate_error(const at::Tensor& weight, const at::Tensor& compressed, const at::Tensor& gram,
                           const CompensationConfig& config = {}, CompensationStats* stats = nullptr);

}  // namespace slmkit
