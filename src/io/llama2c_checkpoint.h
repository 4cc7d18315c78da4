// karpathy llama2.c checkpoints (legacy format): a header of 7 int32
// (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len; a
// negative vocab_size means an untied classifier follows), then fp32 weights.
// The importer renames tensors to Hugging Face Llama names and permutes the
// q/k rows from Meta's interleaved RoPE layout to HF's rotate-half layout, so
// the result runs through the same forward pass as an HF checkpoint.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/tensor_view.h"
#include "io/mapped_file.h"

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

// Every size is checked against the file; the only copies (q/k rows permuted to
// the rotate-half layout) are no larger than the file itself.
Llama2cCheckpoint read_llama2c(const std::string& path);
// The same over an already opened (or in-memory) file.
Llama2cCheckpoint read_llama2c(std::shared_ptr<const MappedFile> file);

}  // namespace slmkit
