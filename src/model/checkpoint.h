// Loading and saving Models: Hugging Face directories (config.json +
// safetensors, sharded or not, or a torch.save pytorch_model.bin), single
// safetensors / torch.save files with a config.json beside them, and
// llama2.c .bin checkpoints.
#pragma once

#include <map>
#include <string>

#include <ATen/ATen.h>

#include "core/tensor_view.h"
#include "model/model.h"

namespace slmkit {

struct LoadOptions {
  at::ScalarType dtype = at::kFloat;  // compute dtype: kFloat or kBFloat16
};

// A checkpoint as stored: its config and its tensors under the file's own
// (Hugging Face) names and dtypes. llama2.c files are already renamed/permuted.
struct RawCheckpoint {
  ModelConfig config;
  TensorSet tensors;
  std::string weights_path;  // the weights file (or index) that was read
  std::string format;        // "safetensors", "safetensors (sharded)", "torch.save zip", "llama2.c"
};

// Finds and reads a checkpoint without converting it to a Model.
RawCheckpoint read_checkpoint(const std::string& path);

// Loads any supported checkpoint; throws Error naming the file and what is wrong.
Model load_model(const std::string& path, const LoadOptions& options = {});

// Builds a Model from tensors with Hugging Face names for config.model_type.
Model model_from_hf_tensors(const ModelConfig& config, const TensorSet& tensors, at::ScalarType dtype,
                            const std::string& source);

// The model's parameters under the Hugging Face names of its architecture
// (GPT-2: fused, transposed Conv1D weights), tied head omitted.
std::map<std::string, at::Tensor> hf_state_dict(const Model& model);

// Writes `dir`/config.json and `dir`/model.safetensors, each atomically.
void save_model(const Model& model, const std::string& dir,
                const std::map<std::string, std::string>& metadata = {});

// The tokenizer that belongs to a checkpoint path: the model directory for HF
// layouts; for a llama2.c .bin, a tokenizer .bin beside it (tok*.bin or
// tokenizer.bin). Empty string when none is found.
std::string default_tokenizer_path(const std::string& model_path);

}  // namespace slmkit
