// Depth pruning after ShortGPT (Men et al. 2024): a block whose output hidden
// states point the same way as its inputs changes little, so the blocks with
// the lowest block influence BI = 1 − mean_t cos(x_in,t, x_out,t) go first.
// The mean is accumulated token by token (O(tokens) memory, not the reference
// code's tokens × tokens matrix).
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/ATen.h>

#include "model/model.h"

namespace slmkit {

struct BlockInfluence {
  double cosine_sum = 0;  // Σ_t cos(x_in,t, x_out,t)
  int64_t tokens = 0;

  // input, output: a block's hidden states [..., hidden].
  void add(const at::Tensor& input, const at::Tensor& output);
  double value() const { return tokens > 0 ? 1.0 - cosine_sum / static_cast<double>(tokens) : 0.0; }
};

// The layers to remove, ascending: lowest influence first, as many as bring the
// kept blocks' parameters closest to target_params (ties: remove fewer); at
// least one layer stays.
std::vector<int64_t> choose_layers_to_remove(const std::vector<double>& influence,
                                             const std::vector<int64_t>& layer_params, int64_t target_params);

// Deletes the given layers (ascending, distinct) and renumbers the rest:
// model.layers.{i}.* tensors and linears, and config.layers.
void remove_layers(Model& model, const std::vector<int64_t>& layers);

}  // namespace slmkit
