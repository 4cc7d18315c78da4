// The Hessian side of GPTQ: the damped inverse's Cholesky factor, with automatic
// extra damping when the Hessian is not (numerically) positive-definite.
// Internal to src/quantize.
#pragma once

#include <ATen/ATen.h>

namespace slmkit::gptq_detail {

struct InverseFactor {
  at::Tensor upper;   // float32 [n, n], upper triangular U with UᵀU = (H + λI)⁻¹
  double damp = 0;    // λ that made the factorization succeed
  int retries = 0;    // how many times λ had to be raised
};

// hessian_f64: symmetric [n, n] float64 with a positive diagonal (dead columns
// already replaced). Starts at λ = percdamp · mean(diag H); every failed
// factorization multiplies λ by 10, up to max_retries times, then throws Error.
InverseFactor damped_inverse_factor(const at::Tensor& hessian_f64, double percdamp, int max_retries);

}  // namespace slmkit::gptq_detail
