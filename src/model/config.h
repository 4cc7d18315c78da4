// Model hyper-parameters, read from a Hugging Face config.json (or built by an
// importer), validated once so the forward pass can trust them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace slmkit {

// Forward-pass families. kLlama covers llama, mistral and qwen2 (the differences
// are flags below); kGPT2 is the GPT-2 block (LayerNorm, learned positions, GELU).
enum class Arch { kLlama, kGPT2 };

struct RopeScaling {
  std::string type;  // "" (none), "linear", "llama3"
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_positions = 0;
};

// Sizes of one decoder layer. Kept per layer so that structured pruning can
// leave layers of different widths in one model.
struct LayerDims {
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t intermediate_size = 0;
};

struct ModelConfig {
  std::string model_type;  // as in config.json: "llama", "mistral", "qwen2", "gpt2"
  Arch arch = Arch::kLlama;
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t head_dim = 0;
  int64_t max_positions = 0;
  std::vector<LayerDims> layers;  // one entry per decoder layer

  double norm_eps = 1e-5;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  int64_t sliding_window = 0;  // Mistral; 0 = full attention

  bool tie_word_embeddings = false;
  bool qkv_bias = false;     // Qwen2: true; llama attention_bias: q/k/v/o
  bool o_bias = false;
  bool mlp_bias = false;
  std::string hidden_act = "silu";  // "silu" (SwiGLU) or "gelu_new" (GPT-2)

  int32_t bos_token_id = -1;
  std::vector<int32_t> eos_token_ids;

  int64_t num_layers() const { return static_cast<int64_t>(layers.size()); }
  // Total parameters implied by the config (embeddings, norms, linears, head).
  int64_t parameter_count() const;
};

// The model types this build can run, for error messages and --help.
const std::vector<std::string>& supported_model_types();

// Parses and validates a config.json object; `path` names it in errors.
ModelConfig parse_hf_config(const nlohmann::json& j, const std::string& path);

// Writes the config back in Hugging Face form (round-trips parse_hf_config).
nlohmann::json to_hf_config(const ModelConfig& c);

// Checks internal consistency (dims divide, sizes positive); throws Error.
void validate_config(const ModelConfig& c, const std::string& where);

}  // namespace slmkit
