// Plain truncated SVD of the weight: the baseline of the SVD family. It
// minimises ‖W − B·A‖_F, which ignores what the inputs look like, so it drops
// directions that carry large activations as readily as unused ones.
#pragma once

#include <ATen/ATen.h>

#include "lowrank/decomposition.h"

namespace slmkit {

// weight: [out, in], any floating dtype. W = U Σ Vᵀ, ṽ_i = v_i (T = I).
Decomposition decompose_svd(const at::Tensor& weight);

}  // namespace slmkit
