// The Hessian side of the OBS-family solvers (GPTQ quantization, SparseGPT
// pruning): preparing H = Σ x xᵀ and the damped inverse's Cholesky factor, with
// automatic extra damping when H is not (numerically) positive-definite.
// Shared numerics below the passes, so that passes need not include each other.
#pragma once

#include <ATen/ATen.h>

#include "core/error.h"

namespace slmkit {

// Thrown when H + λI stays indefinite after the last damping increase, so that a
// pipeline can tell it from other errors (and, if asked to, fall back to RTN for
// that one module instead of stopping).
class NotPositiveDefinite : public Error {
 public:
  using Error::Error;
};

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
// max_retries times, then NotPositiveDefinite is thrown.
InverseFactor damped_inverse_factor(const at::Tensor& hessian, double percdamp, int max_retries);

// What both solvers start from: float32 copies of the weight [out, in] and of
// the symmetrized Hessian [in, in] (so the result does not depend on which
// triangle a factorization reads), with dead inputs (never active in
// calibration: diag H == 0) dropped — their weights set to 0 and a unit
// diagonal keeping H invertible.
struct PreparedProblem {
  at::Tensor weight;   // float32 [out, in]
  at::Tensor hessian;  // float32 [in, in]
  int64_t dead_columns = 0;
};
PreparedProblem prepare_weight_and_hessian(const at::Tensor& weight, const at::Tensor& hessian);

}  // namespace slmkit
