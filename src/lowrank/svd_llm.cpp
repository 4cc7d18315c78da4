#include "lowrank/svd_llm.h"

#include "core/error.h"

namespace slmkit {

Decomposition decompose_svd_llm(const at::Tensor& weight, const at::Tensor& gram, const SvdLlmConfig& config,
                                SvdLlmStats* stats) {
  SLMKIT_ASSERT(weight.dim() == 2 && gram.dim() == 2 && gram.size(0) == weight.size(1) &&
                    gram.size(1) == weight.size(1),
                "SVD-LLM needs XᵀX [in, in] for a weight [out, in]");
  const WhiteningFactor f = whitening_factor(gram, config.whitening);
  if (stats) {
    stats->damp = f.damp;
    stats->retries = f.retries;
    stats->dead_inputs = f.dead_inputs;
  }
  Decomposition d;
  at::Tensor vt;
  thin_svd(f.whiten(weight), &d.u, &d.sigma, &vt);
  d.vt = f.unwhiten(vt).contiguous();  // Vᵀ L⁻¹
  return d;
}

at::Tensor refit_b(const at::Tensor& weight, const at::Tensor& a, const at::Tensor& cross, const at::Tensor& gram_hat,
                   double percdamp) {
  SLMKIT_ASSERT(weight.dim() == 2 && a.dim() == 2 && a.size(1) == weight.size(1), "refit_b: A must be [r, in]");
  const int64_t in = weight.size(1);
  SLMKIT_ASSERT(cross.sizes() == at::IntArrayRef({in, in}) && gram_hat.sizes() == at::IntArrayRef({in, in}),
                "refit_b: C and Ĝ must be [in, in]");
  const at::Tensor w = weight.to(at::kDouble), a64 = a.to(at::kDouble);
  const at::Tensor system = at::mm(at::mm(a64, gram_hat.to(at::kDouble)), a64.t());  // A Ĝ Aᵀ [r, r]
  const at::Tensor rhs = at::mm(at::mm(w, cross.to(at::kDouble)), a64.t());          // W C Aᵀ [out, r]
  WhiteningConfig wc;
  wc.percdamp = percdamp;
  const WhiteningFactor f = whitening_factor(system, wc);
  // B (A Ĝ Aᵀ) = W C Aᵀ  ⇔  (A Ĝ Aᵀ) Bᵀ = (W C Aᵀ)ᵀ, the system being symmetric.
  return at::cholesky_solve(rhs.t().contiguous(), f.lower, /*upper=*/false).t().contiguous();
}

}  // namespace slmkit
