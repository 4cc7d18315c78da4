#include "quantize/gptq.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <ATen/Parallel.h>

#include "core/error.h"
#include "linalg/damped_hessian.h"
#include "quantize/grid_math.h"
#include "quantize/rtn.h"

namespace slmkit {
namespace {

using grid_math::GridParams;

enum class GroupMode { kPerRow, kDynamic, kStatic };

// What the per-row block kernel reads and writes: raw pointers into contiguous
// tensors, all in processing (act-order) column order except `perm`'s values.
struct Solve {
  int64_t out = 0, in = 0;
  int64_t group = 0;     // columns per group (in for per-row)
  int64_t n_groups = 0;
  GroupMode mode = GroupMode::kPerRow;
  int bits = 4;
  bool symmetric = false;
  int32_t maxq = 15;
  float* w = nullptr;             // [out, in] weights, updated in place by the error feedback
  const float* u = nullptr;       // [in, in] upper Cholesky factor of (H + λI)⁻¹
  const int64_t* perm = nullptr;  // [in] processing position → original column
  int32_t* codes = nullptr;       // [out, in]
  float* scales = nullptr;        // [out, n_groups]
  int32_t* zeros = nullptr;       // [out, n_groups]
  float* err = nullptr;           // [out, err_stride] scaled errors (w − q) / U_ii of the current block
  int64_t err_stride = 0;
  double* loss = nullptr;         // [out] Σ of scaled errors², GPTQ's Losses per row
};

GridParams stored_grid(const Solve& s, int64_t r, int64_t group_index) {
  GridParams p;
  p.scale = s.scales[r * s.n_groups + group_index];
  p.zero = s.zeros[r * s.n_groups + group_index];
  return p;
}

// Grid of the dynamic group starting at processing column `start` (inside block
// [i1, i2)), fitted to the weights as they will be quantized: columns inside the
// block already carry all feedback so far; columns past the block still wait for
// this block's GEMM, so their pending update is added here. (gptq.py fits the
// block-start values instead, which makes the grid depend on the block size.)
GridParams dynamic_group_grid(const Solve& s, int64_t r, int64_t start, int64_t i1, int64_t i2) {
  const int64_t end = std::min(start + s.group, s.in);
  const float* w = s.w + r * s.in;
  const float* err = s.err + r * s.err_stride;
  float lo = std::numeric_limits<float>::infinity(), hi = -lo;
  for (int64_t j = start; j < std::min(end, i2); ++j) {
    lo = std::min(lo, w[j]);
    hi = std::max(hi, w[j]);
  }
  for (int64_t j = i2; j < end; ++j) {
    float v = w[j];
    for (int64_t k = i1; k < start; ++k) v -= err[k - i1] * s.u[k * s.in + j];
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  return grid_math::grid_from_range(lo, hi, s.bits, s.symmetric);
}

// Quantizes columns [i1, i2) of row r, feeding each column's error forward onto
// the block's later columns of the same row. Rows never interact (H couples
// columns only, and every grid is per row), so rows run in parallel.
void quantize_row_block(const Solve& s, int64_t r, int64_t i1, int64_t i2) {
  float* __restrict w = s.w + r * s.in;
  float* __restrict err = s.err + r * s.err_stride;
  int32_t* codes = s.codes + r * s.in;
  GridParams p;
  if (s.mode != GroupMode::kStatic) p = stored_grid(s, r, s.mode == GroupMode::kPerRow ? 0 : i1 / s.group);
  double loss = 0;
  for (int64_t i = i1; i < i2; ++i) {
    if (s.mode == GroupMode::kDynamic && i % s.group == 0) {
      p = dynamic_group_grid(s, r, i, i1, i2);
      s.scales[r * s.n_groups + i / s.group] = p.scale;
      s.zeros[r * s.n_groups + i / s.group] = p.zero;
    } else if (s.mode == GroupMode::kStatic) {
      p = stored_grid(s, r, s.perm[i] / s.group);
    }
    const int32_t code = grid_math::quantize_code(w[i], p, s.maxq);
    codes[i] = code;
    const float* __restrict u_row = s.u + i * s.in;
    const float e = (w[i] - grid_math::dequantize_code(code, p)) / u_row[i];
    err[i - i1] = e;
    loss += static_cast<double>(e) * e;
    for (int64_t j = i + 1; j < i2; ++j) w[j] -= e * u_row[j];
  }
  s.loss[r] += loss;
}

void check_inputs(const at::Tensor& weight, const at::Tensor& hessian, const GptqConfig& config) {
  check_grid(config.grid);
  SLMKIT_CHECK(std::isfinite(config.percdamp) && config.percdamp >= 0, "GPTQ: percdamp must be ≥ 0, got ",
               config.percdamp);
  SLMKIT_CHECK(config.block_size >= 1, "GPTQ: block_size must be ≥ 1, got ", config.block_size);
  SLMKIT_CHECK(config.max_damp_retries >= 0, "GPTQ: max_damp_retries must be ≥ 0, got ", config.max_damp_retries);
  SLMKIT_CHECK(weight.defined() && weight.dim() == 2 && weight.numel() > 0 &&
                   at::isFloatingType(weight.scalar_type()),
               "GPTQ: weight must be a non-empty 2-D [out, in] floating tensor, got ",
               weight.defined() ? weight.sizes() : at::IntArrayRef{});
  const int64_t in = weight.size(1);
  SLMKIT_CHECK(hessian.defined() && hessian.dim() == 2 && hessian.size(0) == in && hessian.size(1) == in &&
                   at::isFloatingType(hessian.scalar_type()),
               "GPTQ: Hessian must be a floating [", in, ", ", in, "] tensor for a weight with ", in,
               " input columns, got ", hessian.defined() ? hessian.sizes() : at::IntArrayRef{});
  SLMKIT_CHECK(at::isfinite(weight).all().item<bool>(), "GPTQ: weight ", weight.sizes(),
               " contains NaN or Inf; the checkpoint or an earlier pass is broken");
  SLMKIT_CHECK(at::isfinite(hessian).all().item<bool>(),
               "GPTQ: Hessian contains NaN or Inf; check the calibration activations for overflow");
  SLMKIT_CHECK(hessian.diagonal().min().item<double>() >= 0,
               "GPTQ: Hessian has a negative diagonal entry, so it is not a sum of x·xᵀ; it was accumulated wrongly");
}

}  // namespace

IntegerWeights quantize_gptq(const at::Tensor& weight, const at::Tensor& hessian, const GptqConfig& config,
                             GptqStats* stats) {
  check_inputs(weight, hessian, config);
  const QuantGrid& grid = config.grid;
  const int64_t out = weight.size(0), in = weight.size(1);
  PreparedProblem prepared = prepare_weight_and_hessian(weight, hessian);
  at::Tensor w = prepared.weight, h = prepared.hessian;
  const int64_t dead_columns = prepared.dead_columns;

  Solve s;
  s.out = out;
  s.in = in;
  s.group = effective_group_size(grid, in);
  s.n_groups = (in + s.group - 1) / s.group;
  s.mode = s.group == in ? GroupMode::kPerRow : (config.static_groups ? GroupMode::kStatic : GroupMode::kDynamic);
  s.bits = grid.bits;
  s.symmetric = grid.symmetric;
  s.maxq = grid_math::max_code(grid.bits);

  at::Tensor scales = at::zeros({out, s.n_groups}, at::kFloat);
  at::Tensor zeros = at::zeros({out, s.n_groups}, at::kInt);
  // Per-row and static grids come from the original weights before any feedback
  // (after dropping dead inputs, which gptq.py does only after its per-row grid:
  // a dropped weight should not widen the grid of the ones that matter).
  if (s.mode != GroupMode::kDynamic) {
    for (int64_t g = 0; g < s.n_groups; ++g) {
      const int64_t c0 = g * s.group, width = std::min(s.group, in - c0);
      at::Tensor scale, zero;
      find_grid_params(w.narrow(1, c0, width), grid, &scale, &zero);
      scales.select(1, g).copy_(scale);
      zeros.select(1, g).copy_(zero);
    }
  }

  // Act-order: the columns with the largest input energy go first, while most
  // columns are still free to absorb their error. A stable sort keeps ties in
  // original order (so an identity Hessian leaves the order unchanged).
  at::Tensor perm = config.act_order
                        ? std::get<1>(at::sort(h.diagonal(), /*stable=*/true, /*dim=*/0, /*descending=*/true))
                        : at::arange(in, at::kLong);
  perm = perm.contiguous();
  if (config.act_order) {
    w = w.index_select(1, perm).contiguous();
    h = h.index_select(0, perm).index_select(1, perm).contiguous();
  }

  const InverseFactor factor = damped_inverse_factor(h, config.percdamp, config.max_damp_retries);

  const int64_t block = std::min(config.block_size, in);
  at::Tensor codes_processing = at::empty({out, in}, at::kInt);
  at::Tensor err = at::empty({out, block}, at::kFloat);
  at::Tensor loss = at::zeros({out}, at::kDouble);
  s.w = w.data_ptr<float>();
  s.u = factor.upper.data_ptr<float>();
  s.perm = perm.data_ptr<int64_t>();
  s.codes = codes_processing.data_ptr<int32_t>();
  s.scales = scales.data_ptr<float>();
  s.zeros = zeros.data_ptr<int32_t>();
  s.err = err.data_ptr<float>();
  s.err_stride = block;
  s.loss = loss.data_ptr<double>();

  for (int64_t i1 = 0; i1 < in; i1 += block) {
    const int64_t i2 = std::min(i1 + block, in);
    at::parallel_for(0, out, 8, [&](int64_t row_begin, int64_t row_end) {
      for (int64_t r = row_begin; r < row_end; ++r) quantize_row_block(s, r, i1, i2);
    });
    // Lazy batch update: the whole block's feedback onto all later columns in one GEMM.
    if (i2 < in) {
      w.narrow(1, i2, in - i2)
          .addmm_(err.narrow(1, 0, i2 - i1), factor.upper.narrow(0, i1, i2 - i1).narrow(1, i2, in - i2),
                  /*beta=*/1, /*alpha=*/-1);
    }
  }

  // Back to original column order; g_idx says which group each column used.
  at::Tensor inverse_perm = at::empty({in}, at::kLong);
  inverse_perm.index_copy_(0, perm, at::arange(in, at::kLong));
  IntegerWeights result;
  result.bits = grid.bits;
  result.group_size = s.group;
  result.symmetric = grid.symmetric;
  result.codes = config.act_order ? codes_processing.index_select(1, inverse_perm) : codes_processing;
  result.scales = scales;
  result.zeros = zeros;
  // Dynamic groups are contiguous in processing order (AutoGPTQ's g_idx); static
  // and per-row groups are contiguous in original order.
  const at::Tensor position = s.mode == GroupMode::kDynamic ? inverse_perm : at::arange(in, at::kLong);
  result.g_idx = position.div(s.group, "floor").to(at::kInt);

  if (stats != nullptr) {
    stats->damp_used = factor.damp;
    stats->damp_retries = factor.retries;
    stats->factor_fp64 = factor.fp64;
    stats->dead_columns = dead_columns;
    stats->weighted_error = loss.sum().item<double>();
  }
  return result;
}

}  // namespace slmkit
