#include "model/config.h"

#include <algorithm>

#include "core/error.h"

namespace slmkit {
namespace {

using nlohmann::json;

// Reads a required integer key, with a message that says what to do.
int64_t require_int(const json& j, const char* key, const std::string& path) {
  SLMKIT_CHECK(j.contains(key), path, ": missing required key \"", key,
               "\". A Hugging Face config.json for this model type must define it.");
  SLMKIT_CHECK(j[key].is_number_integer(), path, ": key \"", key, "\" must be an integer, found ",
               j[key].dump());
  return j[key].get<int64_t>();
}

int64_t optional_int(const json& j, const char* key, int64_t fallback) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  SLMKIT_CHECK(j[key].is_number_integer(), "config key \"", key, "\" must be an integer, found ",
               j[key].dump());
  return j[key].get<int64_t>();
}

double optional_num(const json& j, const char* key, double fallback) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  SLMKIT_CHECK(j[key].is_number(), "config key \"", key, "\" must be a number, found ", j[key].dump());
  return j[key].get<double>();
}

bool optional_bool(const json& j, const char* key, bool fallback) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  SLMKIT_CHECK(j[key].is_boolean(), "config key \"", key, "\" must be true/false, found ", j[key].dump());
  return j[key].get<bool>();
}

std::vector<int32_t> token_ids(const json& j, const char* key, const std::string& path) {
  std::vector<int32_t> ids;
  if (!j.contains(key) || j[key].is_null()) return ids;
  const json list = j[key].is_array() ? j[key] : json::array({j[key]});
  for (const auto& v : list) {
    SLMKIT_CHECK(v.is_number_integer(), path, ": key \"", key,
                 "\" must be a token id or a list of token ids, found ", j[key].dump());
    ids.push_back(v.get<int32_t>());
  }
  return ids;
}

// rope_scaling (transformers <= 4) or rope_parameters (transformers 5).
void parse_rope(const json& j, ModelConfig& c, const std::string& path) {
  c.rope_theta = optional_num(j, "rope_theta", 10000.0);
  const json* rs = nullptr;
  if (j.contains("rope_parameters") && j["rope_parameters"].is_object()) rs = &j["rope_parameters"];
  else if (j.contains("rope_scaling") && j["rope_scaling"].is_object()) rs = &j["rope_scaling"];
  if (rs == nullptr) return;
  c.rope_theta = optional_num(*rs, "rope_theta", c.rope_theta);
  std::string type;
  if (rs->contains("rope_type")) type = (*rs)["rope_type"].get<std::string>();
  else if (rs->contains("type")) type = (*rs)["type"].get<std::string>();
  if (type.empty() || type == "default") return;
  SLMKIT_CHECK(type == "llama3" || type == "linear", path, ": rope scaling type \"", type,
               "\" is not supported (supported: default, linear, llama3)");
  c.rope_scaling.type = type;
  c.rope_scaling.factor = optional_num(*rs, "factor", 1.0);
  c.rope_scaling.low_freq_factor = optional_num(*rs, "low_freq_factor", 1.0);
  c.rope_scaling.high_freq_factor = optional_num(*rs, "high_freq_factor", 4.0);
  c.rope_scaling.original_max_positions =
      optional_int(*rs, "original_max_position_embeddings", c.max_positions);
}

ModelConfig parse_llama_family(const json& j, const std::string& type, const std::string& path) {
  ModelConfig c;
  c.model_type = type;
  c.arch = Arch::kLlama;
  c.vocab_size = require_int(j, "vocab_size", path);
  c.hidden_size = require_int(j, "hidden_size", path);
  const int64_t n_layers = require_int(j, "num_hidden_layers", path);
  const int64_t n_heads = require_int(j, "num_attention_heads", path);
  const int64_t n_kv = optional_int(j, "num_key_value_heads", n_heads);
  const int64_t ffn = require_int(j, "intermediate_size", path);
  SLMKIT_CHECK(n_heads > 0, path, ": num_attention_heads must be positive, found ", n_heads);
  c.head_dim = optional_int(j, "head_dim", n_heads > 0 ? c.hidden_size / n_heads : 0);
  c.max_positions = optional_int(j, "max_position_embeddings", 2048);
  c.norm_eps = optional_num(j, "rms_norm_eps", 1e-6);
  c.hidden_act = j.value("hidden_act", std::string("silu"));
  SLMKIT_CHECK(c.hidden_act == "silu", path, ": hidden_act \"", c.hidden_act,
               "\" is not supported for ", type, " (expected \"silu\")");
  c.tie_word_embeddings = optional_bool(j, "tie_word_embeddings", false);
  if (type == "qwen2") {
    c.qkv_bias = true;  // hard-coded in transformers' Qwen2Attention
    c.o_bias = false;
  } else {
    c.qkv_bias = c.o_bias = optional_bool(j, "attention_bias", false);
  }
  c.mlp_bias = optional_bool(j, "mlp_bias", false);
  if (type == "mistral" || (type == "qwen2" && optional_bool(j, "use_sliding_window", false)))
    c.sliding_window = optional_int(j, "sliding_window", 0);
  parse_rope(j, c, path);
  c.layers.assign(static_cast<size_t>(std::max<int64_t>(n_layers, 0)), LayerDims{n_heads, n_kv, ffn});
  // slmkit extension for non-uniformly pruned models: per-layer sizes.
  if (j.contains("slmkit_layer_dims")) {
    const auto& arr = j["slmkit_layer_dims"];
    SLMKIT_CHECK(arr.is_array() && static_cast<int64_t>(arr.size()) == n_layers, path,
                 ": slmkit_layer_dims must be an array with one entry per layer (", n_layers, ")");
    for (size_t i = 0; i < arr.size(); ++i) {
      c.layers[i].num_heads = require_int(arr[i], "num_attention_heads", path);
      c.layers[i].num_kv_heads = require_int(arr[i], "num_key_value_heads", path);
      c.layers[i].intermediate_size = require_int(arr[i], "intermediate_size", path);
    }
  }
  return c;
}

ModelConfig parse_gpt2(const json& j, const std::string& path) {
  ModelConfig c;
  c.model_type = "gpt2";
  c.arch = Arch::kGPT2;
  c.vocab_size = require_int(j, "vocab_size", path);
  c.hidden_size = require_int(j, "n_embd", path);
  const int64_t n_layers = require_int(j, "n_layer", path);
  const int64_t n_heads = require_int(j, "n_head", path);
  SLMKIT_CHECK(n_heads > 0, path, ": n_head must be positive, found ", n_heads);
  c.head_dim = c.hidden_size / n_heads;
  c.max_positions = optional_int(j, "n_positions", optional_int(j, "n_ctx", 1024));
  c.norm_eps = optional_num(j, "layer_norm_epsilon", 1e-5);
  c.hidden_act = j.value("activation_function", std::string("gelu_new"));
  SLMKIT_CHECK(c.hidden_act == "gelu_new" || c.hidden_act == "gelu", path, ": activation_function \"",
               c.hidden_act, "\" is not supported for gpt2 (expected gelu_new or gelu)");
  c.tie_word_embeddings = true;
  c.qkv_bias = c.o_bias = c.mlp_bias = true;
  const int64_t ffn = optional_int(j, "n_inner", 4 * c.hidden_size);
  c.layers.assign(static_cast<size_t>(std::max<int64_t>(n_layers, 0)), LayerDims{n_heads, n_heads, ffn});
  return c;
}

}  // namespace

const std::vector<std::string>& supported_model_types() {
  static const std::vector<std::string> types = {"llama", "mistral", "qwen2", "gpt2"};
  return types;
}

int64_t ModelConfig::parameter_count() const {
  const int64_t h = hidden_size;
  int64_t n = vocab_size * h;  // embeddings
  if (!tie_word_embeddings) n += vocab_size * h;
  const bool gpt2 = arch == Arch::kGPT2;
  if (gpt2) n += max_positions * h;
  n += gpt2 ? 2 * h : h;  // final norm
  for (const LayerDims& l : layers) {
    const int64_t q = l.num_heads * head_dim, kv = l.num_kv_heads * head_dim;
    n += (gpt2 ? 4 : 2) * h;                  // two norms (+ biases for LayerNorm)
    n += h * (q + 2 * kv) + q * h;            // q, k, v, o
    if (qkv_bias) n += q + 2 * kv;
    if (o_bias) n += h;
    n += (gpt2 ? 2 : 3) * h * l.intermediate_size;  // up/down (+ gate)
    if (mlp_bias) n += (gpt2 ? 1 : 2) * l.intermediate_size + h;
  }
  return n;
}

void validate_config(const ModelConfig& c, const std::string& where) {
  SLMKIT_CHECK(c.vocab_size > 0, where, ": vocab_size must be positive, found ", c.vocab_size);
  SLMKIT_CHECK(c.hidden_size > 0, where, ": hidden size must be positive, found ", c.hidden_size);
  SLMKIT_CHECK(!c.layers.empty(), where, ": the model has no layers");
  SLMKIT_CHECK(c.head_dim > 0 && c.head_dim % 2 == 0, where, ": head_dim must be positive and even, found ",
               c.head_dim);
  SLMKIT_CHECK(c.max_positions > 0, where, ": max_position_embeddings must be positive");
  for (size_t i = 0; i < c.layers.size(); ++i) {
    const LayerDims& l = c.layers[i];
    SLMKIT_CHECK(l.num_heads > 0 && l.num_kv_heads > 0, where, ": layer ", i,
                 ": head counts must be positive (heads ", l.num_heads, ", kv heads ", l.num_kv_heads, ")");
    SLMKIT_CHECK(l.num_heads % l.num_kv_heads == 0, where, ": layer ", i, ": num_attention_heads (",
                 l.num_heads, ") is not a multiple of num_key_value_heads (", l.num_kv_heads,
                 "); grouped-query attention needs every KV head shared by the same number of query heads");
    SLMKIT_CHECK(l.intermediate_size > 0, where, ": layer ", i, ": intermediate_size must be positive");
  }
}

ModelConfig parse_hf_config(const json& j, const std::string& path) {
  SLMKIT_CHECK(j.is_object(), path, ": config.json must be a JSON object");
  SLMKIT_CHECK(j.contains("model_type") && j["model_type"].is_string(), path,
               ": missing \"model_type\"; cannot tell the architecture");
  const std::string type = j["model_type"].get<std::string>();
  ModelConfig c;
  if (type == "llama" || type == "mistral" || type == "qwen2") {
    c = parse_llama_family(j, type, path);
    // Head counts must divide before any derived size is trusted.
    const LayerDims& l0 = c.layers.empty() ? LayerDims{} : c.layers[0];
    if (!j.contains("head_dim") && l0.num_heads > 0)
      SLMKIT_CHECK(c.hidden_size % l0.num_heads == 0, path, ": hidden_size (", c.hidden_size,
                   ") is not divisible by num_attention_heads (", l0.num_heads, ")");
  } else if (type == "gpt2") {
    c = parse_gpt2(j, path);
    // With no layers there is nothing to check here; validate_config says so.
    SLMKIT_CHECK(c.layers.empty() || c.hidden_size % c.layers[0].num_heads == 0, path, ": n_embd (", c.hidden_size,
                 ") is not divisible by n_head (", c.layers.empty() ? 0 : c.layers[0].num_heads, ")");
  } else {
    std::string list;
    for (const auto& t : supported_model_types()) list += (list.empty() ? "" : ", ") + t;
    throw Error(cat(path, ": model_type \"", type, "\" is not supported. Supported: ", list, "."));
  }
  const auto bos = token_ids(j, "bos_token_id", path);
  c.bos_token_id = bos.empty() ? -1 : bos[0];
  c.eos_token_ids = token_ids(j, "eos_token_id", path);
  validate_config(c, path);
  return c;
}

json to_hf_config(const ModelConfig& c) {
  json j;
  const LayerDims& l0 = c.layers.at(0);
  if (c.arch == Arch::kGPT2) {
    j["architectures"] = {"GPT2LMHeadModel"};
    j["model_type"] = "gpt2";
    j["vocab_size"] = c.vocab_size;
    j["n_embd"] = c.hidden_size;
    j["n_layer"] = c.num_layers();
    j["n_head"] = l0.num_heads;
    j["n_positions"] = c.max_positions;
    j["n_ctx"] = c.max_positions;
    j["n_inner"] = l0.intermediate_size;
    j["layer_norm_epsilon"] = c.norm_eps;
    j["activation_function"] = c.hidden_act;
  } else {
    const char* arch_name = c.model_type == "qwen2"     ? "Qwen2ForCausalLM"
                            : c.model_type == "mistral" ? "MistralForCausalLM"
                                                        : "LlamaForCausalLM";
    j["architectures"] = {arch_name};
    j["model_type"] = c.model_type;
    j["vocab_size"] = c.vocab_size;
    j["hidden_size"] = c.hidden_size;
    j["intermediate_size"] = l0.intermediate_size;
    j["num_hidden_layers"] = c.num_layers();
    j["num_attention_heads"] = l0.num_heads;
    j["num_key_value_heads"] = l0.num_kv_heads;
    j["head_dim"] = c.head_dim;
    j["max_position_embeddings"] = c.max_positions;
    j["rms_norm_eps"] = c.norm_eps;
    j["rope_theta"] = c.rope_theta;
    j["hidden_act"] = c.hidden_act;
    j["tie_word_embeddings"] = c.tie_word_embeddings;
    if (c.model_type != "qwen2") j["attention_bias"] = c.qkv_bias;
    j["mlp_bias"] = c.mlp_bias;
    if (c.sliding_window > 0) j["sliding_window"] = c.sliding_window;
    // Qwen2 ignores sliding_window unless use_sliding_window is set.
    if (c.sliding_window > 0 && c.model_type == "qwen2") j["use_sliding_window"] = true;
    if (!c.rope_scaling.type.empty()) {
      j["rope_scaling"] = {{"rope_type", c.rope_scaling.type},
                           {"factor", c.rope_scaling.factor},
                           {"low_freq_factor", c.rope_scaling.low_freq_factor},
                           {"high_freq_factor", c.rope_scaling.high_freq_factor},
                           {"original_max_position_embeddings", c.rope_scaling.original_max_positions}};
    }
    bool uniform = true;
    for (const auto& l : c.layers)
      uniform = uniform && l.num_heads == l0.num_heads && l.num_kv_heads == l0.num_kv_heads &&
                l.intermediate_size == l0.intermediate_size;
    if (!uniform) {
      json arr = json::array();
      for (const auto& l : c.layers)
        arr.push_back({{"num_attention_heads", l.num_heads},
                       {"num_key_value_heads", l.num_kv_heads},
                       {"intermediate_size", l.intermediate_size}});
      j["slmkit_layer_dims"] = arr;
    }
  }
  if (c.bos_token_id >= 0) j["bos_token_id"] = c.bos_token_id;
  if (c.eos_token_ids.size() == 1) j["eos_token_id"] = c.eos_token_ids[0];
  else if (!c.eos_token_ids.empty()) j["eos_token_id"] = c.eos_token_ids;
  j["torch_dtype"] = "float32";
  return j;
}

}  // namespace slmkit
