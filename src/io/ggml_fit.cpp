#include "io/ggml_fit.h"

// llama.cpp's scale searches (make_qkx2/qkx3_quants, make_qx_quants,
// make_qp_quants). Compiled with -ffp-contract=off, see ggml_fit.h.

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace slmkit::ggml_detail {

int nearest_int(float x) {
  constexpr float kLimit = 4194303.0f;  // 2^22 − 1, the range ggml's rounding trick supports
  if (!(std::fabs(x) <= kLimit)) return x > 0 ? static_cast<int>(kLimit) : -static_cast<int>(kLimit);
  return static_cast<int>(std::nearbyint(x));
}

int truncated_code(float x, int max_code) {
  return static_cast<int>(std::fmin(std::fmax(x, 0.0f), static_cast<float>(max_code)));
}

float row_sigma2(const float* x, int64_t n) {
  float sum_x2 = 0;
  for (int64_t j = 0; j < n; ++j) sum_x2 += x[j] * x[j];
  return sum_x2 / static_cast<float>(n);
}

// Fits x ≈ scale·L + min on codes L in [0, nmax] minimising Σ w·err², min ≤ 0:
// the min/max grid first, then nstep + 1 stretched grids, each refit by weighted
// least squares; the best fit wins (make_qkx2_quants / make_qkx3_quants).
// Returns the scale and stores −min in *neg_min.
float fit_scale_and_min(int n, int nmax, const float* x, const float* w, uint8_t* L,
                        float* neg_min, float rmin, float rdelta, int nstep) {
  float min = x[0], max = x[0];
  float sum_w = w[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    sum_w += w[i];
    sum_x += w[i] * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    std::fill(L, L + n, uint8_t{0});
    *neg_min = -min;
    return 0.0f;
  }
  float inv_scale = nmax / (max - min);
  float scale = 1 / inv_scale;
  float best_error = 0;
  for (int i = 0; i < n; ++i) {
    L[i] = static_cast<uint8_t>(std::clamp(nearest_int(inv_scale * (x[i] - min)), 0, nmax));
    float diff = scale * L[i] + min - x[i];
    best_error += w[i] * (diff * diff);
  }
  uint8_t trial[32];
  SLMKIT_ASSERT(n <= 32, "sub-blocks have at most 32 elements");
  for (int step = 0; step <= nstep; ++step) {
    inv_scale = (rmin + rdelta * step + nmax) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      const int l = std::clamp(nearest_int(inv_scale * (x[i] - min)), 0, nmax);
      trial[i] = static_cast<uint8_t>(l);
      sum_l += w[i] * l;
      sum_l2 += w[i] * l * l;
      sum_xl += w[i] * l * x[i];
    }
    const float det = sum_w * sum_l2 - sum_l * sum_l;
    if (!(det > 0)) continue;
    float this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
    float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
    if (this_min > 0) {  // the model has no positive offset: refit the scale alone
      this_min = 0;
      this_scale = sum_xl / sum_l2;
    }
    float error = 0;
    for (int i = 0; i < n; ++i) {
      float diff = this_scale * trial[i] + this_min - x[i];
      error += w[i] * (diff * diff);
    }
    if (error < best_error) {
      std::copy(trial, trial + n, L);
      best_error = error;
      scale = this_scale;
      min = this_min;
    }
  }
  *neg_min = -min;
  return scale;
}

// Fits x ≈ scale·(L − nmax) on signed codes in [−nmax, nmax − 1] minimising
// Σ w·err² (w = x² when no weights are given), trying 19 grid stretches
// (make_qx_quants with rmse_type 1). L receives the codes + nmax.
float fit_symmetric_scale(int n, int nmax, const float* x, const float* w, int8_t* L) {
  float max = 0, amax = 0;
  for (int i = 0; i < n; ++i) {
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      max = x[i];
    }
  }
  if (amax < kGroupMaxEps) {
    std::fill(L, L + n, int8_t{0});
    return 0.0f;
  }
  const auto weight = [&](int i) { return w != nullptr ? w[i] : x[i] * x[i]; };
  const auto code = [&](float inv_scale, int i) {
    return std::clamp(nearest_int(inv_scale * x[i]), -nmax, nmax - 1);
  };
  float inv_scale = static_cast<float>(-nmax) / max;
  float sum_lx = 0, sum_l2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = code(inv_scale, i);
    L[i] = static_cast<int8_t>(l + nmax);
    sum_lx += weight(i) * x[i] * l;
    sum_l2 += weight(i) * l * l;
  }
  float scale = sum_l2 != 0 ? sum_lx / sum_l2 : 0.0f;
  float best = scale * sum_lx;
  for (int step = -9; step <= 9; ++step) {
    if (step == 0) continue;
    inv_scale = -(nmax + 0.1f * step) / max;
    sum_lx = sum_l2 = 0;
    for (int i = 0; i < n; ++i) {
      const int l = code(inv_scale, i);
      sum_lx += weight(i) * x[i] * l;
      sum_l2 += weight(i) * l * l;
    }
    if (sum_l2 > 0 && sum_lx * sum_lx > best * sum_l2) {
      for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(nmax + code(inv_scale, i));
      scale = sum_lx / sum_l2;
      best = scale * sum_lx;
    }
  }
  return scale;
}

// Quantizes non-negative x (sub-block scales or mins) to L in [0, nmax] times one
// scale, minimising Σ w·err²: nine grid stretches, then up to five rounds of
// single-code moves (make_qp_quants; used by the importance-weighted Q4_K).
float fit_positive_scale(int n, int nmax, const float* x, const float* w, uint8_t* L) {
  float max = 0;
  for (int i = 0; i < n; ++i) max = std::max(max, x[i]);
  if (max < kGroupMaxEps) {
    std::fill(L, L + n, uint8_t{0});
    return 0.0f;
  }
  float inv_scale = nmax / max;
  for (int i = 0; i < n; ++i) L[i] = static_cast<uint8_t>(nearest_int(inv_scale * x[i]));
  const float scale = 1 / inv_scale;
  float best_mse = 0;
  for (int i = 0; i < n; ++i) {
    const float diff = x[i] - scale * L[i];
    best_mse += w[i] * diff * diff;
  }
  for (int step = -4; step <= 4; ++step) {
    if (step == 0) continue;
    const float inv_scale_step = (0.1f * step + nmax) / max;
    const float scale_step = 1 / inv_scale_step;
    float mse = 0;
    for (int i = 0; i < n; ++i) {
      const int l = std::min(nmax, nearest_int(inv_scale_step * x[i]));
      const float diff = x[i] - scale_step * l;
      mse += w[i] * diff * diff;
    }
    if (mse < best_mse) {
      best_mse = mse;
      inv_scale = inv_scale_step;
    }
  }
  float sum_lx = 0, sum_l2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = std::min(nmax, nearest_int(inv_scale * x[i]));
    L[i] = static_cast<uint8_t>(l);
    sum_lx += w[i] * x[i] * l;
    sum_l2 += w[i] * l * l;
  }
  for (int round = 0; round < 5; ++round) {
    int n_changed = 0;
    for (int i = 0; i < n; ++i) {
      float slx = sum_lx - w[i] * x[i] * L[i];
      float sl2 = sum_l2 - w[i] * L[i] * L[i];
      if (!(slx > 0 && sl2 > 0)) continue;
      const int new_l = std::min(nmax, nearest_int(x[i] * sl2 / slx));
      if (new_l == L[i]) continue;
      slx += w[i] * x[i] * new_l;
      sl2 += w[i] * new_l * new_l;
      if (slx * slx * sum_l2 > sum_lx * sum_lx * sl2) {
        L[i] = static_cast<uint8_t>(new_l);
        sum_lx = slx;
        sum_l2 = sl2;
        ++n_changed;
      }
    }
    if (n_changed == 0) break;
  }
  return sum_l2 > 0.0f ? sum_lx / sum_l2 : 0.0f;
}

}  // namespace slmkit::ggml_detail
