#include "lowrank/decomposition.h"

#include "core/error.h"

namespace slmkit {

LowRankWeights truncate(const Decomposition& d, int64_t rank) {
  SLMKIT_ASSERT(rank >= 1 && rank <= d.terms(), "rank ", rank, " of a decomposition with ", d.terms(), " terms");
  const at::Tensor root = d.sigma.narrow(0, 0, rank).sqrt();
  LowRankWeights w;
  w.b = (d.u.narrow(1, 0, rank) * root.unsqueeze(0)).contiguous();
  w.a = (d.vt.narrow(0, 0, rank) * root.unsqueeze(1)).contiguous();
  return w;
}

at::Tensor term_output_errors(const Decomposition& d, const at::Tensor& gram) {
  const at::Tensor g = gram.to(at::kDouble);
  // ṽ_iᵀ G ṽ_i for all i at once: rowwise sums of (Ṽᵀ G) ⊙ Ṽᵀ.
  const at::Tensor quad = (at::mm(d.vt, g) * d.vt).sum(1).clamp_min(0.0);
  return d.sigma.square() * quad;
}

double output_energy(const at::Tensor& weight, const at::Tensor& gram) {
  const at::Tensor w = weight.to(at::kDouble);
  return (at::mm(w, gram.to(at::kDouble)) * w).sum().item<double>();
}

double relative_output_error(const at::Tensor& weight, const at::Tensor& approx, const at::Tensor& gram) {
  const double den = output_energy(weight, gram);
  const at::Tensor diff = weight.to(at::kDouble) - approx.to(at::kDouble);
  return den > 0 ? output_energy(diff, gram) / den : 0.0;
}

int64_t break_even_rank(int64_t out_features, int64_t in_features) {
  SLMKIT_ASSERT(out_features > 0 && in_features > 0);
  // Largest r with r·(m + n) < m·n.
  return (out_features * in_features - 1) / (out_features + in_features);
}

void thin_svd(const at::Tensor& m, at::Tensor* u, at::Tensor* sigma, at::Tensor* vt) {
  SLMKIT_ASSERT(m.dim() == 2 && m.scalar_type() == at::kDouble);
  auto [uu, s, vh] = at::linalg_svd(m, /*full_matrices=*/false);
  // u_i and v_i are defined up to a common sign; fix it so results do not depend on the LAPACK build.
  const at::Tensor idx = uu.abs().argmax(0);
  const at::Tensor sign = uu.gather(0, idx.unsqueeze(0)).squeeze(0).sign();
  const at::Tensor flip = at::where(sign == 0, at::ones_like(sign), sign);
  *u = (uu * flip.unsqueeze(0)).contiguous();
  *vt = (vh * flip.unsqueeze(1)).contiguous();
  *sigma = s.contiguous();
}

}  // namespace slmkit
