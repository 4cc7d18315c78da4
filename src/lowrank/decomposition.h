// What every SVD-family method produces: a weight W [out, in] written exactly as
// a sum of rank-one terms in decreasing order of importance,
//   W = Σ_i σ_i u_i ṽ_iᵀ,   u_i orthonormal,
// from the SVD of a transformed matrix W·T = U Σ Vᵀ with the right vectors mapped
// back to input coordinates, ṽ_iᵀ = v_iᵀ T⁻¹ (plain SVD: T = I; ASVD: T = S =
// diag(mean|x|^α); SVD-LLM: T = L, the Cholesky factor of XᵀX). Keeping the
// first r terms gives the factors
//   B = U_r √Σ_r  [out, r],   A = √Σ_r Ṽ_rᵀ  [r, in]   (W ≈ B·A),
// the √Σ split of ASVD and SVD-LLM (both factors on the same scale).
//
// Because the u_i are orthonormal, the output error of dropping terms adds up
// term by term for every method, not only for SVD-LLM:
//   ‖X(W − W_r)ᵀ‖_F² = Σ_{i>r} σ_i² · ṽ_iᵀ G ṽ_i,   G = XᵀX,
// which rank selection uses (rank_allocation.h). For SVD-LLM ṽ_iᵀ G ṽ_i = 1
// (without damping): the dropped σ_i² are the output error.
#pragma once

#include <cstdint>

#include <ATen/ATen.h>

#include "model/linear.h"

namespace slmkit {

struct Decomposition {
  at::Tensor u;      // float64 [out, k], orthonormal columns
  at::Tensor sigma;  // float64 [k], descending, ≥ 0
  at::Tensor vt;     // float64 [k, in], row i = ṽ_iᵀ (input coordinates)

  int64_t terms() const { return sigma.size(0); }
  int64_t out_features() const { return u.size(0); }
  int64_t in_features() const { return vt.size(1); }
};

// The first `rank` terms as float64 factors (B = U_r √Σ_r, A = √Σ_r Ṽ_rᵀ).
// 1 ≤ rank ≤ terms().
LowRankWeights truncate(const Decomposition& d, int64_t rank);

// e_i = σ_i² ṽ_iᵀ G ṽ_i for every term (float64 [k]): the output error on the
// inputs with Gram matrix `gram` [in, in] of dropping term i.
at::Tensor term_output_errors(const Decomposition& d, const at::Tensor& gram);

// ‖X Wᵀ‖_F² = tr(W G Wᵀ): the output energy the relative errors are divided by.
double output_energy(const at::Tensor& weight, const at::Tensor& gram);

// ‖X(W − approx)ᵀ‖² / ‖X Wᵀ‖² computed directly from the matrices (float64).
double relative_output_error(const at::Tensor& weight, const at::Tensor& approx, const at::Tensor& gram);

// The largest rank whose factors take fewer parameters than the dense weight:
// r·(out + in) < out·in. A layer that would need more stays dense.
int64_t break_even_rank(int64_t out_features, int64_t in_features);

// The SVD of `m` (float64 [out, k]) with k = min(out, in) terms and the sign of
// each pair fixed (largest-magnitude entry of u_i positive), so decompositions
// are reproducible across LAPACK builds. Shared by the methods.
void thin_svd(const at::Tensor& m, at::Tensor* u, at::Tensor* sigma, at::Tensor* vt);

}  // namespace slmkit
