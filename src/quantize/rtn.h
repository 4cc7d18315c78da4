// Round-to-nearest: each group's min/max grid (GPTQ's quantizer: the range is
// widened to include 0; asymmetric zero = round(−min/scale); symmetric zero =
// 2^(bits−1)), then plain rounding. The baseline every other method must beat.
#pragma once

#include <ATen/ATen.h>

#include "model/quantized_weights.h"
#include "quantize/quant_config.h"

namespace slmkit {

// weight: [out, in] float. A last partial group (in % group_size != 0) is its own group.
IntegerWeights quantize_rtn(const at::Tensor& weight, const QuantGrid& grid);

// Grid parameters for one slice of columns w [out, k]: scale [out], zero [out] (int32).
void find_grid_params(const at::Tensor& w, const QuantGrid& grid, at::Tensor* scale, at::Tensor* zero);

}  // namespace slmkit
