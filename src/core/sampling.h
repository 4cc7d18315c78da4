// Next-token choice shared by both generation engines (the LibTorch reference in
// src/model/generate and the native runtime in src/runtime): greedy or sampled
// (temperature, top-k, top-p, repetition penalty) with a seeded generator whose
// sequence is the same on every platform. LibTorch-free, so it lives below both
// (src/model may not include src/runtime).
#pragma once

#include <cstdint>
#include <vector>

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

// What one generation run did, for the "tok/s" lines of generate and bench.
struct GenerationStats {
  int64_t prompt_tokens = 0;
  int64_t generated_tokens = 0;
  double prefill_seconds = 0;
  double decode_seconds = 0;
  bool stopped_at_eos = false;
};

// Throws Error naming the flag when a setting is out of range (temperature < 0,
// top_p outside (0, 1], repetition_penalty <= 0, max_new_tokens <= 0).
void validate_sampling(const SamplingConfig& config);

// Holds the generator state and the scratch buffers, so choosing a token
// allocates nothing once the first call has sized them for the vocabulary.
class Sampler {
 public:
  explicit Sampler(const SamplingConfig& config);

  // Picks the next token from `vocab` float logits given the context so far
  // (prompt + generated tokens; the repetition penalty applies to each distinct
  // id in it once). Ties in greedy mode go to the lowest id.
  int32_t next(const float* logits, int64_t vocab, const std::vector<int32_t>& context);

 private:
  SamplingConfig config_;
  uint64_t rng_state_;
  std::vector<float> logits_;
  std::vector<uint8_t> seen_;
  std::vector<int32_t> order_;
  std::vector<double> probs_;
};

}  // namespace slmkit
