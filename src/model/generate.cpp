#include "model/generate.h"

#include <algorithm>
#include <chrono>

#include <c10/core/InferenceMode.h>

#include "core/error.h"
#include "model/forward.h"

namespace slmkit {

std::vector<int32_t> generate(const Model& model, const std::vector<int32_t>& prompt, const SamplingConfig& config,
                              const std::function<void(int32_t)>& on_token, GenerationStats* stats) {
  SLMKIT_CHECK(!prompt.empty(), "generation needs at least one prompt token (e.g. BOS)");
  validate_sampling(config);
  const int64_t max_pos = model.config.max_positions;
  SLMKIT_CHECK(static_cast<int64_t>(prompt.size()) < max_pos, "prompt of ", prompt.size(),
               " tokens leaves no room in the model's ", max_pos, " positions");
  const int64_t capacity = std::min<int64_t>(max_pos, static_cast<int64_t>(prompt.size()) + config.max_new_tokens);
  c10::InferenceMode guard;
  const at::Device device = model.tensor("model.embed_tokens.weight").device();
  KVCache cache = make_kv_cache(model, 1, capacity);
  GenerationStats st;
  st.prompt_tokens = static_cast<int64_t>(prompt.size());
  Sampler sampler(config);
  std::vector<int32_t> context = prompt, out;
  // The last position's logits, on the CPU where the sampler reads them.
  auto last_logits = [](const at::Tensor& logits) {
    return logits[0][logits.size(1) - 1].to(at::kCPU, at::kFloat).contiguous();
  };

  auto t0 = std::chrono::steady_clock::now();
  const at::Tensor input = at::tensor(std::vector<int64_t>(prompt.begin(), prompt.end()), at::kLong).view({1, -1});
  at::Tensor logits = last_logits(forward(model, input.to(device), &cache));
  st.prefill_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  t0 = std::chrono::steady_clock::now();
  while (static_cast<int64_t>(out.size()) < config.max_new_tokens) {
    const int32_t next = sampler.next(logits.data_ptr<float>(), logits.numel(), context);
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
    logits = last_logits(
        forward(model, at::full({1, 1}, static_cast<int64_t>(next), at::TensorOptions(at::kLong).device(device)),
                &cache));
  }
  st.decode_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  st.generated_tokens = static_cast<int64_t>(out.size());
  if (stats) *stats = st;
  return out;
}

}  // namespace slmkit
