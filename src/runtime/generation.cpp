#include "runtime/generation.h"

#include <algorithm>
#include <chrono>

#include "core/error.h"

namespace slmkit::runtime {

int64_t generation_capacity(const ModelConfig& config, int64_t prompt_tokens, const SamplingConfig& sampling) {
  return std::min<int64_t>(config.max_positions, prompt_tokens + sampling.max_new_tokens);
}

std::vector<int32_t> generate(Session& session, const std::vector<int32_t>& prompt, const SamplingConfig& sampling,
                              const std::function<void(int32_t)>& on_token, GenerationStats* stats) {
  SLMKIT_CHECK(!prompt.empty(), "generation needs at least one prompt token (e.g. BOS)");
  validate_sampling(sampling);
  const ModelConfig& c = session.model().config;
  const int64_t vocab = c.vocab_size;
  SLMKIT_CHECK(static_cast<int64_t>(prompt.size()) < c.max_positions, "prompt of ", prompt.size(),
               " tokens leaves no room in the model's ", c.max_positions, " positions");
  const int64_t capacity = std::min(session.capacity(), generation_capacity(c, static_cast<int64_t>(prompt.size()),
                                                                            sampling));
  SLMKIT_CHECK(static_cast<int64_t>(prompt.size()) < capacity, "prompt of ", prompt.size(),
               " tokens leaves no room in the session's ", session.capacity(), " positions");
  session.reset();
  GenerationStats st;
  st.prompt_tokens = static_cast<int64_t>(prompt.size());
  Sampler sampler(sampling);
  std::vector<int32_t> context = prompt, out;
  context.reserve(prompt.size() + static_cast<size_t>(sampling.max_new_tokens));
  out.reserve(static_cast<size_t>(sampling.max_new_tokens));

  auto t0 = std::chrono::steady_clock::now();
  const float* logits = session.forward(prompt.data(), static_cast<int64_t>(prompt.size()));
  st.prefill_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  t0 = std::chrono::steady_clock::now();
  while (static_cast<int64_t>(out.size()) < sampling.max_new_tokens) {
    const int32_t next = sampler.next(logits, vocab, context);
    const bool eos = std::find(c.eos_token_ids.begin(), c.eos_token_ids.end(), next) != c.eos_token_ids.end();
    if (eos && sampling.stop_at_eos) {
      st.stopped_at_eos = true;
      break;
    }
    out.push_back(next);
    context.push_back(next);
    if (on_token) on_token(next);
    if (session.position() >= capacity) break;  // the context is full
    if (static_cast<int64_t>(out.size()) == sampling.max_new_tokens) break;
    logits = session.forward(&next, 1);
  }
  st.decode_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  st.generated_tokens = static_cast<int64_t>(out.size());
  if (stats) *stats = st;
  return out;
}

}  // namespace slmkit::runtime
