// Model hyper-parameters, read from a Hugging Face config.json (or built by an
// importer), validated once so the forward pass can trust them.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
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

// The GPTQ settings one linear ends up with.
struct QuantSettings {
  bool quantized = false;
  int bits = 4;
  int64_t group_size = 128;  // -1: one group per row (group = in_features)
  bool sym = true;
  bool desc_act = false;     // act-order: g_idx is a permuted, non-contiguous map
};

// One entry of quantization_config.dynamic, GPTQModel's (and vLLM's) per-module
// overrides for mixed precision. The JSON key is "+:<regex>" (or a bare regex):
// modules whose name matches take the listed settings, e.g.
//   "+:model\\.layers\\.0\\.mlp\\.down_proj": {"bits": 8};
// "-:<regex>" leaves matching modules unquantized (dense .weight). The regex is
// matched at the start of the canonical module name, like Python's re.match.
struct ModuleQuantOverride {
  std::string pattern;  // the regex, without its "+:"/"-:" prefix
  bool skip = false;    // "-:"
  std::optional<int> bits;
  std::optional<int64_t> group_size;
  std::optional<bool> sym, desc_act;
};

// config.json "quantization_config" (only quant_method "gptq", checkpoint_format
// "gptq" is read and written). Empty method: a dense checkpoint.
struct QuantizationInfo {
  std::string method;  // "" or "gptq"
  int bits = 4;
  int64_t group_size = 128;  // -1: per row
  bool sym = true;
  bool desc_act = false;
  bool lm_head = false;  // whether lm_head is quantized too (GPTQModel "lm_head")
  std::vector<ModuleQuantOverride> dynamic;

  bool enabled() const { return !method.empty(); }
  // Settings for a linear by canonical name ("model.layers.0.mlp.down_proj",
  // "lm_head"). JSON objects lose key order, so where Python would take the
  // first matching pattern we require all matching patterns to agree (Error otherwise).
  QuantSettings settings_for(const std::string& module) const;
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

  QuantizationInfo quantization;  // how the checkpoint's linears were stored
  // Things in config.json that were read but deliberately not acted on (keys that
  // ask for custom Python code: never executed); the CLI prints them.
  std::vector<std::string> warnings;
  // slmkit extension "slmkit_low_rank": factorized linears (canonical name → rank r),
  // stored as <name>.weight_a [r, in] and <name>.weight_b [out, r]. Empty: none.
  std::map<std::string, int64_t> low_rank;

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

// RoPE inverse wavelengths θ_i (i < head_dim/2) in float64, with `linear` or
// `llama3` scaling applied; both forward passes build their cos/sin tables from these.
std::vector<double> rope_inverse_frequencies(const ModelConfig& c);

}  // namespace slmkit
