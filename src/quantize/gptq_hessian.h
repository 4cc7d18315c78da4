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
  bool fp64 = false;  // float32 failed at this λ and float64 succeeded
};

// hessian: symmetric [n, n] float32 or float64 with a positive diagonal (dead
// columns already replaced). Starts at λ = percdamp · mean(diag H). Each λ is
// tried in float32 (as the reference gptq.py does, and twice as fast), then in
// float64 if float32 fails; when both fail λ is multiplied by 10, up to
// max_retries times, then Error is thrown.
InverseFactor damped_inverse_factor(const at::Tensor& hessian, double percdamp, int max_retries);

}  // namespace slmkit::gptq_detail
