// Finding and reading checkpoint files without building a Model: the config and
// the tensors as stored. LibTorch-free (compiled into slmkit_io), so the LibTorch
// loader (model/checkpoint) and the edge runtime (src/runtime) share one reader.
#pragma once

#include <string>

#include "core/tensor_view.h"
#include "model/config.h"

namespace slmkit {

// A checkpoint as stored: its config and its tensors under the file's own
// (Hugging Face) names and dtypes. llama2.c files are already renamed/permuted.
struct RawCheckpoint {
  ModelConfig config;
  TensorSet tensors;
  std::string weights_path;  // the weights file (or index) that was read
  std::string format;        // "safetensors", "safetensors (sharded)", "torch.save zip", "llama2.c"
};

// Finds and reads a checkpoint: a Hugging Face directory (config.json +
// model.safetensors, its sharded index, or pytorch_model.bin), a single weights
// file with config.json beside it, or a llama2.c .bin. Throws Error naming the
// path and what was looked for.
RawCheckpoint read_checkpoint(const std::string& path);

// The tokenizer that belongs to a checkpoint path: the model directory for HF
// layouts; for a llama2.c .bin, a tokenizer .bin beside it (tok*.bin or
// tokenizer.bin). Empty string when none is found.
std::string default_tokenizer_path(const std::string& model_path);

}  // namespace slmkit
