// Prefill for dense weights: rows converted to fp32 panels, Eigen's GEMM per panel.
// Eigen's AVX-512 packing code trips GCC 12's -Wmaybe-uninitialized (false positives).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <algorithm>

#include <Eigen/Core>

#include "runtime/kernels_internal.h"

namespace slmkit::runtime::detail {

// Y[:, r0:r1] = X W[r0:r1]ᵀ for dense weights: rows converted to fp32 panels, Eigen's GEMM per panel.
void dense_matmul_rows(const PackedLinear& w, const float* x, int64_t n, int64_t r0, int64_t r1, float* y) {
  using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const int64_t in = w.in_features, out = w.out_features;
  constexpr int64_t kPanel = 64;
  Eigen::Map<const RowMajor> xm(x, n, in);
  for (int64_t p = r0; p < r1; p += kPanel) {
    const int64_t rows = std::min(kPanel, r1 - p);
    const float* panel;
    if (w.dense_dtype == DType::F32) {
      panel = static_cast<const float*>(w.dense) + p * in;
    } else {
      float* buf = reinterpret_cast<float*>(thread_scratch(2, sizeof(float) * static_cast<size_t>(rows * in)));
      const uint16_t* src = static_cast<const uint16_t*>(w.dense) + p * in;
      if (w.dense_dtype == DType::F16)
        for (int64_t i = 0; i < rows * in; ++i) buf[i] = f16_to_f32(src[i]);
      else
        for (int64_t i = 0; i < rows * in; ++i) buf[i] = bf16_to_f32(src[i]);
      panel = buf;
    }
    Eigen::Map<const RowMajor> pm(panel, rows, in);
    Eigen::Map<RowMajor, 0, Eigen::OuterStride<>> ym(y + p, n, rows, Eigen::OuterStride<>(out));
    ym.noalias() = xm * pm.transpose();
  }
}

}  // namespace slmkit::runtime::detail
