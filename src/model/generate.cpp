#include "model/generate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include <c10/core/InferenceMode.h>

#include "core/error.h"
#include "model/forward.h"

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

int32_t sample_token(const at::Tensor& logits_in, const std::vector<int32_t>& context, const SamplingConfig& config,
                     uint64_t* rng_state) {
  SLMKIT_ASSERT(logits_in.dim() == 1 && logits_in.scalar_type() == at::kFloat);
  std::vector<float> logits(logits_in.data_ptr<float>(), logits_in.data_ptr<float>() + logits_in.numel());
  if (config.repetition_penalty != 1.0) {
    std::vector<bool> seen(logits.size(), false);
    for (int32_t t : context)
      if (t >= 0 && static_cast<size_t>(t) < logits.size() && !seen[static_cast<size_t>(t)]) {
        seen[static_cast<size_t>(t)] = true;
        float& l = logits[static_cast<size_t>(t)];
        l = l > 0 ? static_cast<float>(l / config.repetition_penalty) : static_cast<float>(l * config.repetition_penalty);
      }
  }
  if (config.temperature <= 0.0)
    return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());

  std::vector<int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  size_t keep = order.size();
  if (config.top_k > 0) keep = std::min(keep, static_cast<size_t>(config.top_k));
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(keep), order.end(),
                    [&](int32_t a, int32_t b) { return logits[static_cast<size_t>(a)] > logits[static_cast<size_t>(b)]; });
  const double max_logit = logits[static_cast<size_t>(order[0])];
  std::vector<double> probs(keep);
  double total = 0;
  for (size_t i = 0; i < keep; ++i) {
    probs[i] = std::exp((logits[static_cast<size_t>(order[i])] - max_logit) / config.temperature);
    total += probs[i];
  }
  if (config.top_p < 1.0) {  // smallest prefix whose mass reaches top_p
    double mass = 0;
    size_t cut = keep;
    for (size_t i = 0; i < keep; ++i) {
      mass += probs[i] / total;
      if (mass >= config.top_p) {
        cut = i + 1;
        break;
      }
    }
    keep = cut;
    total = std::accumulate(probs.begin(), probs.begin() + static_cast<std::ptrdiff_t>(keep), 0.0);
  }
  double r = next_uniform(rng_state) * total;
  for (size_t i = 0; i < keep; ++i) {
    r -= probs[i];
    if (r <= 0) return order[i];
  }
  return order[keep - 1];
}

std::vector<int32_t> generate(const Model& model, const std::vector<int32_t>& prompt, const SamplingConfig& config,
                              const std::function<void(int32_t)>& on_token, GenerationStats* stats) {
  SLMKIT_CHECK(!prompt.empty(), "generation needs at least one prompt token (e.g. BOS)");
  const int64_t max_pos = model.config.max_positions;
  SLMKIT_CHECK(static_cast<int64_t>(prompt.size()) < max_pos, "prompt of ", prompt.size(),
               " tokens leaves no room in the model's ", max_pos, " positions");
  const int64_t capacity = std::min<int64_t>(max_pos, static_cast<int64_t>(prompt.size()) + config.max_new_tokens);
  c10::InferenceMode guard;
  KVCache cache = make_kv_cache(model, 1, capacity);
  GenerationStats st;
  st.prompt_tokens = static_cast<int64_t>(prompt.size());
  uint64_t rng = config.seed;
  std::vector<int32_t> context = prompt, out;

  auto t0 = std::chrono::steady_clock::now();
  at::Tensor input = at::tensor(std::vector<int64_t>(prompt.begin(), prompt.end()), at::kLong).view({1, -1});
  at::Tensor logits = forward(model, input, &cache);
  st.prefill_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  t0 = std::chrono::steady_clock::now();
  while (static_cast<int64_t>(out.size()) < config.max_new_tokens) {
    const int32_t next = sample_token(logits[0][logits.size(1) - 1].contiguous(), context, config, &rng);
    const bool eos = std::find(model.config.eos_token_ids.begin(), model.config.eos_token_ids.end(), next) !=
                     model.config.eos_token_ids.end();
    if (eos && config.stop_at_eos) {
      st.stopped_at_eos = true;
      break;
    }
    out.push_back(next);
    context.push_back(next);
    if (on_token) on_token(next);
    if (cache.length >= capacity) break;  // the model's context is full
    if (static_cast<int64_t>(out.size()) == config.max_new_tokens) break;
    logits = forward(model, at::full({1, 1}, static_cast<int64_t>(next), at::kLong), &cache);
  }
  st.decode_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  st.generated_tokens = static_cast<int64_t>(out.size());
  if (stats) *stats = st;
  return out;
}

}  // namespace slmkit
