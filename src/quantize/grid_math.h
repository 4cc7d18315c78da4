// Scalar arithmetic of the min/max integer grid (GPTQ's quant.py quantizer),
// shared by RTN and GPTQ so that both round every weight the same way: GPTQ on an
// identity Hessian has no error feedback and must reproduce RTN bit for bit.
// Internal to src/quantize.
#pragma once

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>

namespace slmkit::grid_math {

inline int32_t max_code(int bits) { return (1 << bits) - 1; }

struct GridParams {
  float scale = 1;
  int32_t zero = 0;
};

// Grid for one (row, group) from the smallest and largest weight in it.
// The range is widened to include 0 so that 0 is always exactly representable
// (dead inputs and zero rows dequantize to exactly 0).
// Symmetric: the range is [−amax, amax] with amax = max(|min|, max) and zero =
// 2^(bits−1). quant.py keeps min = 0 for a row without negative weights, which
// leaves half the codes unused and clips the positive half; we always mirror.
// A range whose scale would be zero or subnormal gets quant.py's xmin = xmax = 0
// guard (range [−1, 1]); its weights (all tiny) then quantize to 0.
inline GridParams grid_from_range(float wmin, float wmax, int bits, bool symmetric) {
  const int32_t maxq = max_code(bits);
  float xmin = std::min(wmin, 0.0f);
  float xmax = std::max(wmax, 0.0f);
  if (symmetric) {
    xmax = std::max(-xmin, xmax);
    xmin = -xmax;
  }
  float scale = (xmax - xmin) / static_cast<float>(maxq);
  if (!(scale >= FLT_MIN)) {
    xmin = -1.0f;
    scale = 2.0f / static_cast<float>(maxq);
  }
  GridParams p;
  p.scale = scale;
  // The asymmetric zero can only leave [0, maxq] by a rounding ulp; clamp anyway
  // because packed formats cannot store anything else.
  p.zero = symmetric ? (maxq + 1) / 2 : static_cast<int32_t>(std::nearbyint(-xmin / scale));
  p.zero = std::clamp(p.zero, int32_t{0}, maxq);
  if (!symmetric && p.zero == 0) {
    // A group with (almost) no negative weights. The GPTQ v1 checkpoint format
    // stores zero − 1 and cannot hold 0 (AutoGPTQ's packer silently corrupts the
    // neighbouring zeros then). Spend one code below zero instead: zero = 1 and
    // the range [xmin, xmax] spread over maxq − 1 steps, so every group stays
    // storable at the cost of one level of resolution in such groups.
    p.zero = 1;
    p.scale = (xmax - xmin) / static_cast<float>(maxq - 1);
  }
  return p;
}

// code = clamp(round_half_even(w / scale) + zero, 0, maxq), as torch.round does.
inline int32_t quantize_code(float w, const GridParams& p, int32_t maxq) {
  const float q = std::nearbyint(w / p.scale) + static_cast<float>(p.zero);
  return static_cast<int32_t>(std::clamp(q, 0.0f, static_cast<float>(maxq)));
}

inline float dequantize_code(int32_t code, const GridParams& p) {
  return p.scale * static_cast<float>(code - p.zero);
}

}  // namespace slmkit::grid_math
