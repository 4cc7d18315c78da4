// Text generation with the reference (LibTorch) forward pass and a KV cache:
// greedy or sampled through the shared core/sampling Sampler, on whatever
// device the model's tensors live (CPU, or CUDA after move_model_to_device).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "core/sampling.h"
#include "model/model.h"

namespace slmkit {

// Generates after `prompt` (which must be non-empty); `on_token` is called with
// each new token as soon as it is chosen. Returns the new tokens.
std::vector<int32_t> generate(const Model& model, const std::vector<int32_t>& prompt, const SamplingConfig& config,
                              const std::function<void(int32_t)>& on_token, GenerationStats* stats = nullptr);

}  // namespace slmkit
