#include "linalg/damped_hessian.h"

#include <ATen/Parallel.h>

#include "core/error.h"

namespace slmkit {
namespace {

// With percdamp = 0 a singular Hessian would retry with λ = 0 forever; the first
// retry then starts from this fraction of mean(diag H) instead.
constexpr double kFirstRetryDampFraction = 1e-4;

// OpenBLAS's LAPACK routines (potrf, potri) split their work differently with
// more threads, which changes the last bits of the factor (its GEMMs do not:
// each element is summed by one thread in one order). Factoring on one thread
// keeps GPTQ and SparseGPT outputs byte-identical whatever --threads is; the
// factorization is a small part of a solve.
class OneThreadForLapack {
 public:
  OneThreadForLapack() : saved_(at::get_num_threads()) { at::set_num_threads(1); }
  ~OneThreadForLapack() { at::set_num_threads(saved_); }
  OneThreadForLapack(const OneThreadForLapack&) = delete;
  OneThreadForLapack& operator=(const OneThreadForLapack&) = delete;

 private:
  int saved_;
};

// The factor as float32, or an undefined tensor when H + λI is not
// positive-definite in H's precision (or the factor is not usable).
at::Tensor try_factor(const at::Tensor& hessian, double damp) {
  const OneThreadForLapack one_thread;
  at::Tensor damped = hessian.clone();
  damped.diagonal().add_(damp);
  auto [lower, info] = at::linalg_cholesky_ex(damped);
  if (info.item<int64_t>() != 0) return {};
  at::Tensor inverse = at::cholesky_inverse(lower);
  // GPTQ needs the rows of the upper Cholesky factor of H⁻¹: row i holds the
  // error-feedback coefficients of column i onto the columns after it.
  auto [upper, info_inv] = at::linalg_cholesky_ex(inverse, /*upper=*/true);
  if (info_inv.item<int64_t>() != 0) return {};
  at::Tensor upper32 = upper.to(at::kFloat).contiguous();
  if (!at::isfinite(upper32).all().item<bool>()) return {};
  if (!(upper32.diagonal().min().item<float>() > 0)) return {};
  return upper32;
}

}  // namespace

InverseFactor damped_inverse_factor(const at::Tensor& hessian, double percdamp, int max_retries) {
  SLMKIT_ASSERT((hessian.scalar_type() == at::kFloat || hessian.scalar_type() == at::kDouble) && hessian.dim() == 2);
  const double mean_diag = hessian.diagonal().to(at::kDouble).mean().item<double>();
  SLMKIT_ASSERT(mean_diag > 0, "dead columns must have been replaced before damping");
  // The float64 copy is made only if float32 ever fails: a Hessian with
  // eigenvalues spread over many decades can lose too many float32 digits.
  const at::Tensor h32 = hessian.to(at::kFloat);
  at::Tensor h64;
  InverseFactor result;
  double damp = percdamp * mean_diag;
  for (int attempt = 0; attempt <= max_retries; ++attempt) {
    at::Tensor upper = try_factor(h32, damp);
    if (!upper.defined()) {
      if (!h64.defined()) h64 = hessian.to(at::kDouble);
      upper = try_factor(h64, damp);
      result.fp64 = upper.defined();
    }
    if (upper.defined()) {
      result.upper = upper;
      result.damp = damp;
      result.retries = attempt;
      return result;
    }
    damp = damp > 0 ? damp * 10 : kFirstRetryDampFraction * mean_diag;
  }
  throw NotPositiveDefinite(cat("GPTQ: the Hessian [", hessian.size(0), ", ", hessian.size(1),
                  "] is not positive-definite even with damping ", damp / 10, " (", max_retries,
                  " increases from percdamp ", percdamp, " x mean diagonal ", mean_diag,
                  "); the calibration statistics are broken: check the calibration data for NaN/Inf ",
                  "activations, or raise percdamp / max_damp_retries"));
}

PreparedProblem prepare_weight_and_hessian(const at::Tensor& weight, const at::Tensor& hessian) {
  PreparedProblem p;
  p.weight = at::empty({weight.size(0), weight.size(1)}, at::kFloat);
  p.weight.copy_(weight);
  const at::Tensor h = hessian.to(at::kFloat);
  p.hessian = ((h + h.t()) * 0.5f).contiguous();
  const at::Tensor dead = p.hessian.diagonal() == 0;
  p.dead_columns = dead.sum().item<int64_t>();
  if (p.dead_columns > 0) {
    p.hessian.diagonal().masked_fill_(dead, 1.0);
    p.weight.masked_fill_(dead.unsqueeze(0), 0.0f);
  }
  return p;
}

}  // namespace slmkit
