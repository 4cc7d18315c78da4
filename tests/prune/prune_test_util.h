// Shared pieces of the pruning tests: small calibration sets, logits of a
// fixed token sequence, and a synthetic Llama with every bias switched on.
#pragma once

#include <string>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "eval/perplexity.h"
#include "io/mapped_file.h"
#include "model/forward.h"
#include "model/synthetic.h"
#include "pipeline/calibration.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace slmkit::test {

inline const std::string kStories = "models/stories260k";
inline const std::string kMixed = "models/mixed-en-13m";

// 8 windows x 64 tokens of WikiText-2 validation, tokenized for `model_dir`.
inline at::Tensor small_calibration(const std::string& model_dir, int64_t samples = 8, int64_t seq_len = 64) {
  const auto tok = load_tokenizer(data_path(model_dir));
  const auto tokens = tokenize_for_perplexity(read_text_file(data_path("text/wikitext-2/wiki.valid.tokens")), *tok,
                                              PplProtocol::kGPTQ);
  return draw_calibration_windows(tokens, samples, seq_len, 0);
}

inline at::Tensor logits_of(const Model& m, int64_t vocab_limit = 0, uint64_t seed = 1) {
  c10::InferenceMode guard;
  at::Generator gen = at::detail::createCPUGenerator(seed);
  const int64_t vocab = vocab_limit > 0 ? vocab_limit : m.config.vocab_size;
  const at::Tensor seq = at::randint(0, vocab, {2, 48}, gen, at::kLong);
  return forward(m, seq);
}

// stories260k's shapes (8 heads / 4 KV heads, head_dim 8) with random weights and
// q/k/v/o and MLP biases, so constant activations can be built on purpose.
inline Model biased_synthetic_llama(uint64_t seed = 3) {
  ModelConfig c = preset_config("stories260k");
  c.qkv_bias = c.o_bias = c.mlp_bias = true;
  c.layers.resize(3);
  return synthesize_model(c, seed);
}

}  // namespace slmkit::test
