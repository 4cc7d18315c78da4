// Per-input-channel statistics of one linear's inputs over the calibration
// tokens: all that the pruning criteria read from calibration (the pipeline
// fills them; the methods here never see activations themselves).
#pragma once

#include <cstdint>

#include <ATen/ATen.h>

namespace slmkit {

struct ChannelMoments {
  at::Tensor sum;     // float64 [in]: Σ_t x_tj
  at::Tensor sq_sum;  // float64 [in]: Σ_t x_tj²
  int64_t tokens = 0;

  bool defined() const { return sum.defined() && sq_sum.defined() && tokens > 0; }
  // ‖X_j‖₂ over the tokens (Wanda's activation norm).
  at::Tensor l2_norm() const { return sq_sum.sqrt(); }
  at::Tensor mean() const { return sum / static_cast<double>(tokens); }
  // Sample variance (divisor n − 1), clamped at 0 against rounding (FLAP's fluctuation).
  at::Tensor variance() const {
    const double n = static_cast<double>(tokens);
    if (tokens < 2) return at::zeros_like(sum);
    return ((sq_sum - sum * sum / n) / (n - 1.0)).clamp_min(0.0);
  }
};

}  // namespace slmkit
