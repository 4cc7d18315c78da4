// karpathy llama2.c checkpoints (legacy format): a header of 7 int32
// (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len; a
// negative vocab_size means an untied classifier follows), then fp32 weights.
// The importer renames tensors to Hugging Face Llama names and permutes the
// q/k rows from Meta's interleaved RoPE layout to HF's rotate-half layout, so
// the result runs through the same forward pass as an HF checkpoint.
#pragma once

#include <cstdint>
#include <string>

#include "core/tensor_view.h"

namespace slmkit {

struct Llama2cHeader {
  int32_t dim = 0, hidden_dim = 0, n_layers = 0, n_heads = 0, n_kv_heads = 0, vocab_size = 0, seq_len = 0;
  bool shared_classifier = true;
};

struct Llama2cCheckpoint {
  Llama2cHeader header;
  TensorSet tensors;  // HF names: model.embed_tokens.weight, model.layers.N..., lm_head.weight if untied
};

// True when the file starts like a llama2.c checkpoint rather than a zip.
bool looks_like_llama2c(const std::string& path);

Llama2cCheckpoint read_llama2c(const std::string& path);

}  // namespace slmkit
