#include "quantize/awq_search.h"

#include <cmath>
#include <limits>

#include "core/error.h"

namespace slmkit {
namespace {

// One group per row of w [rows, k]: llm-awq's formulas (see the header).
at::Tensor pseudo_quantize_rows(const at::Tensor& w, int bits, bool symmetric) {
  if (symmetric) {
    const double max_int = std::pow(2.0, bits - 1) - 1, min_int = -std::pow(2.0, bits - 1);
    const at::Tensor scale = w.abs().amax(1, /*keepdim=*/true).clamp_min(1e-5) / max_int;
    return (w / scale).round_().clamp_(min_int, max_int).mul_(scale);
  }
  const double maxq = std::pow(2.0, bits) - 1;
  const at::Tensor w_max = w.amax(1, /*keepdim=*/true), w_min = w.amin(1, /*keepdim=*/true);
  const at::Tensor scale = (w_max - w_min).clamp_min(1e-5) / maxq;
  const at::Tensor zero = (w_min / scale).round_().neg_().clamp_(0, maxq);
  return (w / scale).round_().add_(zero).clamp_(0, maxq).sub_(zero).mul_(scale);
}

at::Tensor checked_float_2d(const at::Tensor& t, const char* what) {
  SLMKIT_ASSERT(t.defined() && t.dim() == 2, what, " must be 2-D");
  return t.to(at::kFloat);
}

}  // namespace

at::Tensor awq_pseudo_quantize(const at::Tensor& weight, const QuantGrid& grid) {
  check_grid(grid);
  const at::Tensor w = checked_float_2d(weight, "awq_pseudo_quantize weight");
  const int64_t out = w.size(0), in = w.size(1);
  const int64_t group = effective_group_size(grid, in);
  const int64_t full_cols = in / group * group;
  // Full groups in one batched call: [out, n·group] viewed as [out·n, group] rows.
  const at::Tensor full = pseudo_quantize_rows(w.narrow(1, 0, full_cols).reshape({-1, group}), grid.bits,
                                               grid.symmetric)
                              .view({out, full_cols});
  if (full_cols == in) return full;
  const at::Tensor tail = pseudo_quantize_rows(w.narrow(1, full_cols, in - full_cols), grid.bits, grid.symmetric);
  return at::cat({full, tail}, 1);
}

at::Tensor awq_scale_candidate(const at::Tensor& x_abs_mean, double ratio) {
  const at::Tensor s = x_abs_mean.to(at::kFloat).pow(ratio).clamp_min(1e-4);
  return s / (s.max() * s.min()).sqrt();
}

AwqClipResult awq_search_clip(const at::Tensor& weight, const at::Tensor& x_tokens, const AwqConfig& config) {
  check_grid(config.grid);
  const at::Tensor w = checked_float_2d(weight, "awq_search_clip weight");
  const at::Tensor x = checked_float_2d(x_tokens, "awq_search_clip inputs");
  SLMKIT_ASSERT(x.size(1) == w.size(1), "clip inputs have ", x.size(1), " channels, weight ", w.size(1));
  const int64_t out = w.size(0), in = w.size(1);
  const int64_t group = effective_group_size(config.grid, in);
  const int64_t n_groups = (in + group - 1) / group;
  // llm-awq: range(int(max_shrink * n_grid)); at least the unclipped candidate.
  const int64_t n_shrink = std::max<int64_t>(1, static_cast<int64_t>(config.max_shrink * config.clip_grid));

  AwqClipResult r;
  r.max_val = at::empty({out, n_groups}, at::kFloat);
  r.error_unclipped = at::empty({out, n_groups}, at::kFloat);
  r.error_best = at::empty({out, n_groups}, at::kFloat);
  for (int64_t g = 0; g < n_groups; ++g) {
    const int64_t c0 = g * group, width = std::min(group, in - c0);
    const at::Tensor w_g = w.narrow(1, c0, width);              // [out, width]
    const at::Tensor x_g = x.narrow(1, c0, width);              // [T, width]
    const at::Tensor partial_out = at::matmul(x_g, w_g.t());    // [T, out]: this group's share of the output
    const at::Tensor amax = w_g.abs().amax(1, /*keepdim=*/true);  // [out, 1]
    at::Tensor best_max = amax.clone();
    at::Tensor best_err = at::full({out, 1}, std::numeric_limits<float>::infinity(), at::kFloat);
    for (int64_t i = 0; i < n_shrink; ++i) {
      const at::Tensor max_val = amax * (1.0 - static_cast<double>(i) / config.clip_grid);
      const at::Tensor clamped = at::min(at::max(w_g, -max_val), max_val);
      const at::Tensor q = pseudo_quantize_rows(clamped, config.grid.bits, config.grid.symmetric);
      const at::Tensor err = (at::matmul(x_g, q.t()) - partial_out).pow_(2).mean(0).unsqueeze(1);  // [out, 1]
      if (i == 0) r.error_unclipped.narrow(1, g, 1).copy_(err);
      const at::Tensor better = err < best_err;  // strict: ties keep the wider range, as llm-awq
      best_err = at::where(better, err, best_err);
      best_max = at::where(better, max_val, best_max);
    }
    r.max_val.narrow(1, g, 1).copy_(best_max);
    r.error_best.narrow(1, g, 1).copy_(best_err);
  }
  return r;
}

at::Tensor awq_apply_clip(const at::Tensor& weight, const at::Tensor& max_val, const QuantGrid& grid) {
  const int64_t in = weight.size(1);
  const int64_t group = effective_group_size(grid, in);
  const at::Tensor group_of_col = at::arange(in, at::kLong).div_(group, "floor");
  const at::Tensor limit = max_val.index_select(1, group_of_col).to(weight.scalar_type());  // [out, in]
  return at::min(at::max(weight, -limit), limit);
}

}  // namespace slmkit
