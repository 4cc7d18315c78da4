#include "core/sampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"

namespace slmkit {
namespace {

// splitmix64: a tiny, seedable generator whose sequence is the same on every platform.
double next_uniform(uint64_t* state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * 0x1.0p-53;
}

}  // namespace

void validate_sampling(const SamplingConfig& c) {
  SLMKIT_CHECK(c.temperature >= 0, "--temperature must be >= 0, found ", c.temperature);
  SLMKIT_CHECK(c.top_k >= 0, "--top-k must be >= 0, found ", c.top_k);
  SLMKIT_CHECK(c.top_p > 0 && c.top_p <= 1, "--top-p must be in (0, 1], found ", c.top_p);
  SLMKIT_CHECK(c.max_new_tokens > 0, "--max-tokens must be positive, found ", c.max_new_tokens);
  SLMKIT_CHECK(c.repetition_penalty > 0, "--repeat-penalty must be positive, found ", c.repetition_penalty);
}

Sampler::Sampler(const SamplingConfig& config) : config_(config), rng_state_(config.seed) {}

int32_t Sampler::next(const float* in, int64_t vocab, const std::vector<int32_t>& context) {
  SLMKIT_ASSERT(vocab > 0, "empty logits");
  const size_t n = static_cast<size_t>(vocab);
  const float* logits = in;
  if (config_.repetition_penalty != 1.0) {
    logits_.assign(in, in + n);
    seen_.assign(n, 0);
    for (int32_t t : context)
      if (t >= 0 && static_cast<size_t>(t) < n && !seen_[static_cast<size_t>(t)]) {
        seen_[static_cast<size_t>(t)] = 1;
        float& l = logits_[static_cast<size_t>(t)];
        l = l > 0 ? static_cast<float>(l / config_.repetition_penalty)
                  : static_cast<float>(l * config_.repetition_penalty);
      }
    logits = logits_.data();
  }
  if (config_.temperature <= 0.0) return static_cast<int32_t>(std::max_element(logits, logits + n) - logits);

  order_.resize(n);
  std::iota(order_.begin(), order_.end(), 0);
  size_t keep = n;
  if (config_.top_k > 0) keep = std::min(keep, static_cast<size_t>(config_.top_k));
  std::partial_sort(order_.begin(), order_.begin() + static_cast<std::ptrdiff_t>(keep), order_.end(),
                    [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  const double max_logit = logits[order_[0]];
  probs_.resize(keep);
  double total = 0;
  for (size_t i = 0; i < keep; ++i) {
    probs_[i] = std::exp((logits[order_[i]] - max_logit) / config_.temperature);
    total += probs_[i];
  }
  if (config_.top_p < 1.0) {  // smallest prefix whose mass reaches top_p
    double mass = 0;
    size_t cut = keep;
    for (size_t i = 0; i < keep; ++i) {
      mass += probs_[i] / total;
      if (mass >= config_.top_p) {
        cut = i + 1;
        break;
      }
    }
    keep = cut;
    total = std::accumulate(probs_.begin(), probs_.begin() + static_cast<std::ptrdiff_t>(keep), 0.0);
  }
  double r = next_uniform(&rng_state_) * total;
  for (size_t i = 0; i < keep; ++i) {
    r -= probs_[i];
    if (r <= 0) return order_[i];
  }
  return order_[keep - 1];
}

}  // namespace slmkit
