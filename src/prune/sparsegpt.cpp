#include "prune/sparsegpt.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include <ATen/Parallel.h>

#include "core/error.h"
// The damped inverse-Hessian factor is GPTQ's: same damping, same float32 →
// float64 fallback, so SparseGPT and GPTQ agree on what a Hessian means.
#include "linalg/damped_hessian.h"

namespace slmkit {
namespace {

// Raw pointers the per-row kernel reads and writes (rows never interact: H
// couples columns only, and every mask decision inside a block is per row).
struct Sweep {
  int64_t in = 0;
  float* w = nullptr;         // [out, in], updated in place
  const float* u = nullptr;   // [in, in] upper factor of (H + λI)⁻¹
  uint8_t* mask = nullptr;    // [out, block] 1 = prune, for the current block
  int64_t block = 0;          // mask row stride
  float* err = nullptr;       // [out, block] scaled errors of the current block
  double* loss = nullptr;     // [out]
  int64_t nm_keep = 0, nm_group = 0;
};

// Columns [i1, i2) of row r: zero the masked weights and feed each column's
// error forward onto the block's later columns.
void sweep_row_block(const Sweep& s, int64_t r, int64_t i1, int64_t i2) {
  float* __restrict w = s.w + r * s.in;
  uint8_t* mask = s.mask + r * s.block;
  float* __restrict err = s.err + r * s.block;
  double loss = 0;
  for (int64_t i = i1; i < i2; ++i) {
    if (s.nm_group > 0 && (i - i1) % s.nm_group == 0) {
      // N:M: the M−N weights of this group with the smallest w²/U_jj², chosen
      // now that the group carries every earlier column's update.
      const int64_t m = s.nm_group;
      int64_t order[64];
      float score[64];
      for (int64_t j = 0; j < m; ++j) {
        const float d = s.u[(i + j) * s.in + i + j];
        score[j] = w[i + j] * w[i + j] / (d * d);
        order[j] = j;
      }
      // Insertion sort (stable, no allocation: nothing may throw inside the parallel region).
      for (int64_t a = 1; a < m; ++a)
        for (int64_t b = a; b > 0 && score[order[b]] < score[order[b - 1]]; --b) std::swap(order[b], order[b - 1]);
      for (int64_t j = 0; j < m; ++j) mask[i - i1 + order[j]] = j < m - s.nm_keep ? 1 : 0;
    }
    const float* __restrict u_row = s.u + i * s.in;
    const float q = mask[i - i1] ? 0.0f : w[i];
    const float e = (w[i] - q) / u_row[i];
    err[i - i1] = e;
    loss += static_cast<double>(e) * e;
    w[i] = q;
    if (e != 0.0f)
      for (int64_t j = i + 1; j < i2; ++j) w[j] -= e * u_row[j];
  }
  s.loss[r] += loss;
}

void check_inputs(const at::Tensor& weight, const at::Tensor& hessian, const SparseGptConfig& c) {
  SLMKIT_CHECK(weight.defined() && weight.dim() == 2 && weight.numel() > 0 && at::isFloatingType(weight.scalar_type()),
               "SparseGPT: weight must be a non-empty 2-D [out, in] floating tensor");
  const int64_t in = weight.size(1);
  SLMKIT_CHECK(hessian.defined() && hessian.dim() == 2 && hessian.size(0) == in && hessian.size(1) == in,
               "SparseGPT: Hessian must be [", in, ", ", in, "] for a weight with ", in, " input columns, got ",
               hessian.defined() ? hessian.sizes() : at::IntArrayRef{});
  SLMKIT_CHECK(c.block_size >= 1, "SparseGPT: block_size must be >= 1, found ", c.block_size);
  SLMKIT_CHECK(std::isfinite(c.percdamp) && c.percdamp >= 0, "SparseGPT: percdamp must be >= 0, found ", c.percdamp);
  check_sparsity_config(c.target, in);
  if (c.target.pattern.enabled()) {
    SLMKIT_CHECK(c.target.pattern.group <= 64, "SparseGPT: N:M groups of at most 64 columns are supported, found ",
                 c.target.pattern.group);
    SLMKIT_CHECK(c.block_size % c.target.pattern.group == 0, "SparseGPT: block_size ", c.block_size,
                 " must be a multiple of M = ", c.target.pattern.group);
  }
  SLMKIT_CHECK(at::isfinite(weight).all().item<bool>(), "SparseGPT: weight contains NaN or Inf");
  SLMKIT_CHECK(at::isfinite(hessian).all().item<bool>(),
               "SparseGPT: Hessian contains NaN or Inf; check the calibration activations for overflow");
}

}  // namespace

at::Tensor prune_sparsegpt(const at::Tensor& weight, const at::Tensor& hessian, const SparseGptConfig& config,
                           SparseGptStats* stats) {
  check_inputs(weight, hessian, config);
  const int64_t out = weight.size(0), in = weight.size(1);
  PreparedProblem prepared = prepare_weight_and_hessian(weight, hessian);
  at::Tensor w = prepared.weight, h = prepared.hessian;
  const int64_t dead_columns = prepared.dead_columns;
  const InverseFactor factor = damped_inverse_factor(h, config.percdamp, config.max_damp_retries);
  const at::Tensor u_diag = factor.upper.diagonal().clone();

  const int64_t block = std::min(config.block_size, in);
  at::Tensor mask = at::zeros({out, block}, at::kByte);
  at::Tensor err = at::zeros({out, block}, at::kFloat);
  at::Tensor loss = at::zeros({out}, at::kDouble);
  Sweep s;
  s.in = in;
  s.w = w.data_ptr<float>();
  s.u = factor.upper.data_ptr<float>();
  s.mask = mask.data_ptr<uint8_t>();
  s.block = block;
  s.err = err.data_ptr<float>();
  s.loss = loss.data_ptr<double>();
  s.nm_keep = config.target.pattern.keep;
  s.nm_group = config.target.pattern.group;

  const double sparsity = config.target.sparsity;
  int64_t pruned_so_far = 0;
  for (int64_t i1 = 0; i1 < in; i1 += block) {
    const int64_t i2 = std::min(i1 + block, in), width = i2 - i1;
    if (!config.target.pattern.enabled()) {
      // Each block prunes its share so that the running total is round(sparsity · weights so far):
      // the whole matrix then loses exactly round(sparsity · out · in).
      const int64_t due = std::llround(sparsity * static_cast<double>(out * i2)) - pruned_so_far;
      const at::Tensor wb = w.narrow(1, i1, width);
      const at::Tensor score = wb.square() / u_diag.narrow(0, i1, width).square().unsqueeze(0);
      at::Tensor chosen = at::zeros({out * width}, at::kBool);
      if (due > 0) {
        const at::Tensor idx =
            std::get<1>(at::topk(score.reshape({-1}), due, /*dim=*/0, /*largest=*/false, /*sorted=*/false));
        chosen.index_fill_(0, idx, true);
      }
      mask.narrow(1, 0, width).copy_(chosen.view({out, width}));
      pruned_so_far += due;
    }
    at::parallel_for(0, out, 8, [&](int64_t row_begin, int64_t row_end) {
      for (int64_t r = row_begin; r < row_end; ++r) sweep_row_block(s, r, i1, i2);
    });
    if (i2 < in) {
      w.narrow(1, i2, in - i2)
          .addmm_(err.narrow(1, 0, width), factor.upper.narrow(0, i1, width).narrow(1, i2, in - i2),
                  /*beta=*/1, /*alpha=*/-1);
    }
  }
  if (stats != nullptr) {
    stats->damp_used = factor.damp;
    stats->dead_columns = dead_columns;
    stats->pruned = config.target.pattern.enabled()
                        ? out * (in / config.target.pattern.group) *
                              (config.target.pattern.group - config.target.pattern.keep)
                        : pruned_so_far;
    stats->weighted_error = loss.sum().item<double>();
  }
  return w;
}

}  // namespace slmkit
