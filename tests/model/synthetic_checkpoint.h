// Tiny synthetic checkpoints for the architecture tests: a config.json object
// per architecture variant, random weights under that architecture's own
// Hugging Face names and layouts, and a writer producing a real HF directory
// (config.json + model.safetensors) that load_model reads like a download.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "model/config.h"

namespace slmkit::test {

// config.json objects of the variants under test (small: vocab 64, hidden 32, 2 layers).
nlohmann::json gpt2_config_json();
nlohmann::json qwen2_config_json();    // GQA 4/2, q/k/v biases, untied lm_head
nlohmann::json llama3_config_json();   // rope_scaling llama3, head_dim 12 != 32/4, tied
nlohmann::json mistral_config_json();  // sliding_window 5
nlohmann::json llama_bias_config_json();  // attention_bias + mlp_bias

// Random weights for `c` under its checkpoint names: Llama family names with
// [out, in] weights, or bare GPT-2 names (wte, h.N.attn.c_attn, ...) with
// Conv1D [in, out] weights. Tied heads are omitted, as HF saves do.
std::map<std::string, at::Tensor> random_hf_tensors(const ModelConfig& c, uint64_t seed);

// Writes `dir`/config.json and `dir`/model.safetensors. Every tensor name is
// prefixed by `name_prefix` (GPT-2 saves made from GPT2LMHeadModel use
// "transformer."); `extra` tensors are written as they are (mask buffers, ...).
void write_hf_checkpoint(const std::string& dir, const nlohmann::json& config,
                         const std::map<std::string, at::Tensor>& tensors, const std::string& name_prefix = "",
                         const std::map<std::string, at::Tensor>& extra = {});

}  // namespace slmkit::test
