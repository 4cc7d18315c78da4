#include "linalg/whitening.h"

#include <cmath>

#include "core/error.h"

namespace slmkit {

at::Tensor WhiteningFactor::whiten(const at::Tensor& m) const {
  SLMKIT_ASSERT(m.dim() == 2 && m.size(1) == size(), "whiten: expected [k, ", size(), "]");
  return at::mm(m.to(at::kDouble), lower);
}

at::Tensor WhiteningFactor::unwhiten(const at::Tensor& m) const {
  SLMKIT_ASSERT(m.dim() == 2 && m.size(1) == size(), "unwhiten: expected [k, ", size(), "]");
  // Solves Y·L = M for Y (left=false): a triangular solve is both cheaper and
  // better conditioned than multiplying by an explicit inverse.
  return at::linalg_solve_triangular(lower, m.to(at::kDouble), /*upper=*/false, /*left=*/false);
}

WhiteningFactor whitening_factor(const at::Tensor& gram, const WhiteningConfig& config) {
  SLMKIT_ASSERT(gram.dim() == 2 && gram.size(0) == gram.size(1), "whitening needs a square Gram matrix");
  SLMKIT_ASSERT(gram.scalar_type() == at::kFloat || gram.scalar_type() == at::kDouble);
  const at::Tensor g64 = gram.to(at::kDouble);
  at::Tensor g = ((g64 + g64.t()) * 0.5).contiguous();
  WhiteningFactor f;
  f.dead = g.diagonal() == 0;
  f.dead_inputs = f.dead.sum().item<int64_t>();
  const int64_t n = g.size(0);
  const double live = static_cast<double>(n - f.dead_inputs);
  // The mean over live inputs sets the scale of every damping; with no live
  // input at all the factor is the identity (any weight change is invisible).
  const double mean_diag = live > 0 ? g.diagonal().sum().item<double>() / live : 1.0;
  SLMKIT_CHECK(std::isfinite(mean_diag), "whitening: the input Gram matrix [", n, ", ", n,
               "] holds NaN or Inf; check the calibration data and the model's activations");
  if (f.dead_inputs > 0) g.diagonal().masked_fill_(f.dead, mean_diag);

  double damp = config.percdamp * mean_diag;
  for (int attempt = 0; attempt <= config.max_retries; ++attempt) {
    at::Tensor damped = g;
    if (damp > 0) {
      damped = g.clone();
      damped.diagonal().add_(damp);
    }
    auto [lower, info] = at::linalg_cholesky_ex(damped, /*upper=*/false, /*check_errors=*/false);
    const double min_pivot = info.item<int64_t>() == 0 ? lower.diagonal().min().item<double>() : 0.0;
    if (info.item<int64_t>() == 0 && at::isfinite(lower).all().item<bool>() &&
        min_pivot * min_pivot >= config.min_pivot * mean_diag) {
      f.lower = lower;
      f.damp = damp;
      f.retries = attempt;
      return f;
    }
    damp = std::max(10 * damp, config.min_retry_damp * mean_diag);
  }
  throw Error(cat("whitening: the input Gram matrix [", n, ", ", n, "] is not positive-definite even with ",
                  "damping ", damp / 10, " (", config.max_retries, " increases; mean diagonal ", mean_diag,
                  "); the calibration statistics are broken: check the calibration data for NaN/Inf activations"));
}

}  // namespace slmkit
