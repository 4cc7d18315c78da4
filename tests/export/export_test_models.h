// Small models and vocabularies for the GGUF export tests.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "export/gguf_export.h"
#include "model/forward.h"
#include "model/model.h"
#include "model/synthetic.h"
#include "quantize/rtn.h"
#include "tokenizer/gguf_vocab.h"

namespace slmkit::test {

// A Llama with hidden 64, head_dim 16, vocab 64 and the given layers
// ({heads, kv heads, FFN width}), tied embeddings, random weights.
inline Model tiny_llama(std::vector<LayerDims> layers = {{4, 2, 96}, {4, 2, 96}}, uint64_t seed = 7,
                        bool tied = true) {
  ModelConfig c;
  c.model_type = "llama";
  c.arch = Arch::kLlama;
  c.vocab_size = 64;
  c.hidden_size = 64;
  c.head_dim = 16;
  c.max_positions = 64;
  c.layers = std::move(layers);
  c.norm_eps = 1e-5;
  c.rope_theta = 10000.0;
  c.tie_word_embeddings = tied;
  c.bos_token_id = 1;
  c.eos_token_ids = {2};
  return synthesize_model(c, seed);
}

// A SentencePiece-style vocabulary of n tokens: <unk>, <s>, </s>, then "▁t<i>".
inline GgufVocab tiny_vocab(int n = 64) {
  GgufVocab v;
  v.model = "llama";
  v.pre = "default";
  for (int i = 0; i < n; ++i) {
    v.tokens.push_back(i == 0 ? "<unk>" : i == 1 ? "<s>" : i == 2 ? "</s>" : "\xE2\x96\x81t" + std::to_string(i));
    v.scores.push_back(-static_cast<float>(i));
    v.types.push_back(i == 0 ? GgufTokenType::kUnknown : i < 3 ? GgufTokenType::kControl : GgufTokenType::kNormal);
  }
  v.unk = 0;
  v.bos = 1;
  v.eos = 2;
  v.add_bos = true;
  v.add_eos = false;
  return v;
}

// Replaces every block linear with its RTN grid (packed GPTQ weights).
inline void quantize_blocks(Model& m, const QuantGrid& grid) {
  for (auto& [name, l] : m.linears)
    if (name != "lm_head") l.weights = pack_gptq(quantize_rtn(l.dense_weight(), grid));
}

// Logits of a fixed token sequence.
inline at::Tensor logits_of(const Model& m) {
  const at::Tensor tokens = at::arange(1, 17, at::kLong).remainder(m.config.vocab_size).view({1, 16});
  return forward(m, tokens);
}

}  // namespace slmkit::test
