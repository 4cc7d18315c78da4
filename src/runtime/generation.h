// Prompt → new tokens with the native runtime, the same loop and sampling as the
// LibTorch reference (model/generate): prefill the prompt in one forward call,
// then one token at a time until max_new_tokens, an EOS id or the end of the
// session's capacity.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "core/sampling.h"
#include "runtime/session.h"

namespace slmkit::runtime {

// The session capacity generate() needs: prompt + max_new_tokens, at most the
// model's max_position_embeddings.
int64_t generation_capacity(const ModelConfig& config, int64_t prompt_tokens, const SamplingConfig& sampling);

// Generates after `prompt` (non-empty) from an empty session (it is reset
// first); `on_token` sees each new token as soon as it is chosen. Returns them.
std::vector<int32_t> generate(Session& session, const std::vector<int32_t>& prompt, const SamplingConfig& sampling,
                              const std::function<void(int32_t)>& on_token, GenerationStats* stats = nullptr);

}  // namespace slmkit::runtime
