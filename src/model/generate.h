// Text generation with the reference forward pass and a KV cache: greedy or
// sampled (temperature, top-k, top-p, repetition penalty), seeded.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "model/model.h"

namespace slmkit {

struct SamplingConfig {
  double temperature = 0.0;         // 0 = greedy (argmax)
  int64_t top_k = 0;                // 0 = no top-k cut
  double top_p = 1.0;               // nucleus mass kept; 1 = no cut
  double repetition_penalty = 1.0;  // > 1 discourages tokens already in the context (CTRL-style)
  uint64_t seed = 0;
  int64_t max_new_tokens = 64;
  bool stop_at_eos = true;
};

struct GenerationStats {
  int64_t prompt_tokens = 0;
  int64_t generated_tokens = 0;
  double prefill_seconds = 0;
  double decode_seconds = 0;
  bool stopped_at_eos = false;
};

// Picks the next token from one row of logits [vocab] (float32) given the
// context so far; `rng_state` is advanced. Exposed for tests.
int32_t sample_token(const at::Tensor& logits, const std::vector<int32_t>& context, const SamplingConfig& config,
                     uint64_t* rng_state);

// Generates after `prompt` (which must be non-empty); `on_token` is called with
// each new token as soon as it is chosen. Returns the new tokens.
std::vector<int32_t> generate(const Model& model, const std::vector<int32_t>& prompt, const SamplingConfig& config,
                              const std::function<void(int32_t)>& on_token, GenerationStats* stats = nullptr);

}  // namespace slmkit
