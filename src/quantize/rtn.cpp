#include "quantize/rtn.h"

#include <algorithm>

#include <ATen/Parallel.h>

#include "core/error.h"
#include "quantize/grid_math.h"

namespace slmkit {
namespace {

// fp32, contiguous, 2-D and finite: the grid arithmetic below reads raw pointers,
// and one NaN would silently poison a whole group's scale.
at::Tensor checked_weight(const at::Tensor& weight, const char* who) {
  SLMKIT_CHECK(weight.defined() && weight.dim() == 2, who, ": weight must be a 2-D [out, in] tensor, got ",
               weight.defined() ? weight.dim() : 0, " dims");
  SLMKIT_CHECK(at::isFloatingType(weight.scalar_type()), who, ": weight must be floating point, got ",
               weight.scalar_type());
  SLMKIT_CHECK(weight.numel() > 0, who, ": weight is empty (", weight.sizes(), ")");
  at::Tensor w = weight.to(at::kFloat).contiguous();
  SLMKIT_CHECK(at::isfinite(w).all().item<bool>(), who, ": weight ", weight.sizes(),
               " contains NaN or Inf; the checkpoint or an earlier pass is broken");
  return w;
}

}  // namespace

void find_grid_params(const at::Tensor& w, const QuantGrid& grid, at::Tensor* scale, at::Tensor* zero) {
  check_grid(grid);
  SLMKIT_ASSERT(scale != nullptr && zero != nullptr);
  const at::Tensor w32 = checked_weight(w, "find_grid_params");
  const int64_t rows = w32.size(0), cols = w32.size(1);
  *scale = at::empty({rows}, at::kFloat);
  *zero = at::empty({rows}, at::kInt);
  const float* w_ptr = w32.data_ptr<float>();
  float* scale_ptr = scale->data_ptr<float>();
  int32_t* zero_ptr = zero->data_ptr<int32_t>();
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = w_ptr + r * cols;
    const auto [lo, hi] = std::minmax_element(row, row + cols);
    const grid_math::GridParams p = grid_math::grid_from_range(*lo, *hi, grid.bits, grid.symmetric);
    scale_ptr[r] = p.scale;
    zero_ptr[r] = p.zero;
  }
}

IntegerWeights quantize_rtn(const at::Tensor& weight, const QuantGrid& grid) {
  check_grid(grid);
  const at::Tensor w = checked_weight(weight, "quantize_rtn");
  const int64_t out = w.size(0), in = w.size(1);
  const int64_t group = effective_group_size(grid, in);
  const int64_t n_groups = (in + group - 1) / group;
  const int32_t maxq = grid_math::max_code(grid.bits);

  IntegerWeights q;
  q.bits = grid.bits;
  q.group_size = group;
  q.symmetric = grid.symmetric;
  q.codes = at::empty({out, in}, at::kInt);
  q.scales = at::empty({out, n_groups}, at::kFloat);
  q.zeros = at::empty({out, n_groups}, at::kInt);
  q.g_idx = at::arange(in, at::kInt).div_(group, "floor");

  const float* w_ptr = w.data_ptr<float>();
  int32_t* code_ptr = q.codes.data_ptr<int32_t>();
  float* scale_ptr = q.scales.data_ptr<float>();
  int32_t* zero_ptr = q.zeros.data_ptr<int32_t>();
  // Rows are independent; a grain of 16 rows keeps tiny layers single-threaded.
  at::parallel_for(0, out, 16, [&](int64_t row_begin, int64_t row_end) {
    for (int64_t r = row_begin; r < row_end; ++r) {
      for (int64_t g = 0; g < n_groups; ++g) {
        const int64_t c0 = g * group, c1 = std::min(c0 + group, in);
        const float* src = w_ptr + r * in;
        const auto [lo, hi] = std::minmax_element(src + c0, src + c1);
        const grid_math::GridParams p = grid_math::grid_from_range(*lo, *hi, grid.bits, grid.symmetric);
        scale_ptr[r * n_groups + g] = p.scale;
        zero_ptr[r * n_groups + g] = p.zero;
        for (int64_t c = c0; c < c1; ++c) code_ptr[r * in + c] = grid_math::quantize_code(src[c], p, maxq);
      }
    }
  });
  return q;
}

}  // namespace slmkit
