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
#include "model/raw_checkpoint.h"  // RawCheckpoint, read_checkpoint, default_tokenizer_path

namespace slmkit {

struct LoadOptions {
  at::ScalarType dtype = at::kFloat;  // compute dtype: kFloat or kBFloat16
};

// Loads any supported checkpoint (also a GGUF file, see model/gguf_checkpoint.h);
// throws Error naming the file and what is wrong.
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

}  // namespace slmkit
