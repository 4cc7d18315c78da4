#include "model/config.h"

#include <algorithm>
#include <cmath>
#include <regex>

#include "core/error.h"

namespace slmkit {
namespace {

using nlohmann::json;

// Largest sizes a config may declare: far beyond any real model, so a value above
// them is corrupt or hostile (num_hidden_layers: 1e9 would allocate gigabytes
// before any tensor is looked at).
constexpr int64_t kMaxLayers = int64_t{1} << 16;
constexpr int64_t kMaxWidth = int64_t{1} << 20;      // hidden, intermediate, head_dim
constexpr int64_t kMaxHeads = int64_t{1} << 16;
constexpr int64_t kMaxVocab = int64_t{1} << 24;
constexpr int64_t kMaxPositions = int64_t{1} << 24;
// quantization_config.dynamic patterns come from the file: compiled in libstdc++'s
// polynomial (breadth-first, no back-references) mode so no pattern can make
// matching exponential, and bounded in length so compiling stays cheap.
constexpr auto kPatternFlags = std::regex::ECMAScript | std::regex_constants::__polynomial;
constexpr size_t kMaxPatternChars = 1024;

void check_at_most(int64_t value, int64_t max, const char* key, const std::string& path) {
  SLMKIT_CHECK(value <= max, path, ": '", key, "' invalid: ", value, " is larger than any model (limit ", max,
               "); the config.json is corrupt");
}

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
    SLMKIT_CHECK(v.is_number_integer() && v.get<int64_t>() >= -1 && v.get<int64_t>() < kMaxVocab, path,
                 ": key \"", key, "\" must be a token id or a list of token ids, found ", j[key].dump());
    ids.push_back(static_cast<int32_t>(v.get<int64_t>()));
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
  for (const char* key : {"rope_type", "type"})
    SLMKIT_CHECK(!rs->contains(key) || (*rs)[key].is_string(), path, ": rope scaling '", key,
                 "' must be a string, found ", (*rs)[key].dump());
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

// slmkit extension for non-uniformly pruned models: per-layer sizes.
void parse_layer_dims(const json& j, int64_t n_layers, const std::string& path, ModelConfig& c) {
  if (!j.contains("slmkit_layer_dims")) return;
  const auto& arr = j["slmkit_layer_dims"];
  SLMKIT_CHECK(arr.is_array() && static_cast<int64_t>(arr.size()) == n_layers, path,
               ": slmkit_layer_dims must be an array with one entry per layer (", n_layers, ")");
  for (size_t i = 0; i < arr.size(); ++i) {
    c.layers[i].num_heads = require_int(arr[i], "num_attention_heads", path);
    c.layers[i].num_kv_heads = require_int(arr[i], "num_key_value_heads", path);
    c.layers[i].intermediate_size = require_int(arr[i], "intermediate_size", path);
    check_at_most(c.layers[i].num_heads, kMaxHeads, "slmkit_layer_dims.num_attention_heads", path);
    check_at_most(c.layers[i].num_kv_heads, kMaxHeads, "slmkit_layer_dims.num_key_value_heads", path);
    check_at_most(c.layers[i].intermediate_size, kMaxWidth, "slmkit_layer_dims.intermediate_size", path);
  }
}

// slmkit extension for factorized (low-rank) models: {"<linear name>": rank}.
// The loader checks each entry against the stored weight_a/weight_b tensors.
void parse_low_rank(const json& j, const std::string& path, ModelConfig& c) {
  if (!j.contains("slmkit_low_rank")) return;
  const auto& obj = j["slmkit_low_rank"];
  SLMKIT_CHECK(obj.is_object(), path, ": slmkit_low_rank must be an object mapping linear names to ranks, found ",
               obj.dump());
  for (const auto& [name, rank] : obj.items()) {
    SLMKIT_CHECK(rank.is_number_integer() && rank.get<int64_t>() > 0, path, ": slmkit_low_rank[\"", name,
                 "\"] must be a positive integer rank, found ", rank.dump());
    c.low_rank[name] = rank.get<int64_t>();
  }
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
  check_at_most(c.vocab_size, kMaxVocab, "vocab_size", path);
  check_at_most(c.hidden_size, kMaxWidth, "hidden_size", path);
  check_at_most(n_layers, kMaxLayers, "num_hidden_layers", path);
  check_at_most(n_heads, kMaxHeads, "num_attention_heads", path);
  check_at_most(n_kv, kMaxHeads, "num_key_value_heads", path);
  check_at_most(ffn, kMaxWidth, "intermediate_size", path);
  check_at_most(c.head_dim, kMaxWidth, "head_dim", path);
  check_at_most(c.max_positions, kMaxPositions, "max_position_embeddings", path);
  parse_rope(j, c, path);
  c.layers.assign(static_cast<size_t>(std::max<int64_t>(n_layers, 0)), LayerDims{n_heads, n_kv, ffn});
  parse_layer_dims(j, n_layers, path, c);
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
  check_at_most(c.vocab_size, kMaxVocab, "vocab_size", path);
  check_at_most(c.hidden_size, kMaxWidth, "n_embd", path);
  check_at_most(n_layers, kMaxLayers, "n_layer", path);
  check_at_most(n_heads, kMaxHeads, "n_head", path);
  check_at_most(c.max_positions, kMaxPositions, "n_positions", path);
  const int64_t ffn = optional_int(j, "n_inner", 4 * c.hidden_size);
  check_at_most(ffn, kMaxWidth, "n_inner", path);
  c.layers.assign(static_cast<size_t>(std::max<int64_t>(n_layers, 0)), LayerDims{n_heads, n_heads, ffn});
  parse_layer_dims(j, n_layers, path, c);
  return c;
}

int gptq_bits(const json& v, const std::string& where) {
  SLMKIT_CHECK(v.is_number_integer(), where, " must be an integer, found ", v.dump());
  const int64_t bits = v.get<int64_t>();
  SLMKIT_CHECK(bits == 2 || bits == 3 || bits == 4 || bits == 8, where, " must be 2, 3, 4 or 8 for GPTQ, found ",
               bits);
  return static_cast<int>(bits);
}

int64_t gptq_group_size(const json& v, const std::string& where) {
  SLMKIT_CHECK(v.is_number_integer(), where, " must be an integer, found ", v.dump());
  const int64_t g = v.get<int64_t>();
  SLMKIT_CHECK(g == -1 || g > 0, where, " must be -1 (one group per row) or positive, found ", g);
  return g;
}

bool json_bool(const json& v, const std::string& where) {
  SLMKIT_CHECK(v.is_boolean(), where, " must be true/false, found ", v.dump());
  return v.get<bool>();
}

// quantization_config: AutoGPTQ / GPTQModel keys. Keys that only describe how
// the weights were computed (damp_percent, true_sequential, static_groups,
// meta, ...) are not needed to read the weights and are ignored.
QuantizationInfo parse_quantization(const json& q, const std::string& path) {
  const std::string where = path + ": quantization_config";
  SLMKIT_CHECK(q.is_object(), where, " must be an object");
  QuantizationInfo info;
  SLMKIT_CHECK(q.contains("quant_method") && q["quant_method"].is_string(), where, " has no \"quant_method\"");
  info.method = q["quant_method"].get<std::string>();
  SLMKIT_CHECK(info.method == "gptq", where, ".quant_method \"", info.method,
               "\" is not supported: the input is already quantized (method ", info.method,
               "); slmkit reads only gptq-quantized checkpoints");
  std::string format = "gptq";
  if (q.contains("checkpoint_format") && !q["checkpoint_format"].is_null()) {
    SLMKIT_CHECK(q["checkpoint_format"].is_string(), where, ".checkpoint_format must be a string, found ",
                 q["checkpoint_format"].dump());
    format = q["checkpoint_format"].get<std::string>();
  }
  SLMKIT_CHECK(format == "gptq", where, ".checkpoint_format \"", format,
               "\" is not supported (supported: gptq, the AutoGPTQ v1 layout)");
  if (q.contains("pack_dtype") && !q["pack_dtype"].is_null())
    SLMKIT_CHECK(q["pack_dtype"] == "int32", where, ".pack_dtype must be \"int32\", found ", q["pack_dtype"].dump());
  SLMKIT_CHECK(q.contains("bits"), where, " has no \"bits\"");
  info.bits = gptq_bits(q["bits"], where + ".bits");
  SLMKIT_CHECK(q.contains("group_size"), where, " has no \"group_size\"");
  info.group_size = gptq_group_size(q["group_size"], where + ".group_size");
  if (q.contains("sym") && !q["sym"].is_null()) info.sym = json_bool(q["sym"], where + ".sym");
  if (q.contains("desc_act") && !q["desc_act"].is_null()) info.desc_act = json_bool(q["desc_act"], where + ".desc_act");
  if (q.contains("lm_head") && !q["lm_head"].is_null()) info.lm_head = json_bool(q["lm_head"], where + ".lm_head");
  if (q.contains("dynamic") && !q["dynamic"].is_null()) {
    SLMKIT_CHECK(q["dynamic"].is_object(), where, ".dynamic must be an object of \"+:regex\"/\"-:regex\" keys");
    for (const auto& [key, value] : q["dynamic"].items()) {
      const std::string w = where + ".dynamic[\"" + key + "\"]";
      ModuleQuantOverride o;
      o.skip = key.rfind("-:", 0) == 0;
      o.pattern = key.rfind("-:", 0) == 0 || key.rfind("+:", 0) == 0 ? key.substr(2) : key;
      SLMKIT_CHECK(o.pattern.size() <= kMaxPatternChars, w, ": pattern of ", o.pattern.size(),
                   " characters, more than the limit of ", kMaxPatternChars);
      try {
        std::regex check(o.pattern, kPatternFlags);
      } catch (const std::regex_error& e) {
        throw Error(cat(w, ": \"", o.pattern, "\" is not a regular expression this build understands (", e.what(), ")"));
      }
      SLMKIT_CHECK(value.is_object(), w, " must be an object of settings, found ", value.dump());
      if (value.contains("bits")) o.bits = gptq_bits(value["bits"], w + ".bits");
      if (value.contains("group_size")) o.group_size = gptq_group_size(value["group_size"], w + ".group_size");
      if (value.contains("sym")) o.sym = json_bool(value["sym"], w + ".sym");
      if (value.contains("desc_act")) o.desc_act = json_bool(value["desc_act"], w + ".desc_act");
      info.dynamic.push_back(o);
    }
  }
  return info;
}

json quantization_json(const QuantizationInfo& q) {
  // Only what a reader needs: how the quantizer was run is not recorded here.
  // model_file_base_name tells AutoGPTQ's from_quantized the weights file name.
  json j = {{"quant_method", q.method}, {"checkpoint_format", "gptq"}, {"bits", q.bits},
            {"group_size", q.group_size}, {"sym", q.sym}, {"desc_act", q.desc_act},
            {"lm_head", q.lm_head}, {"pack_dtype", "int32"}, {"model_file_base_name", "model"}};
  if (!q.dynamic.empty()) {
    json dyn = json::object();
    for (const ModuleQuantOverride& o : q.dynamic) {
      json v = json::object();
      if (o.bits) v["bits"] = *o.bits;
      if (o.group_size) v["group_size"] = *o.group_size;
      if (o.sym) v["sym"] = *o.sym;
      if (o.desc_act) v["desc_act"] = *o.desc_act;
      dyn[(o.skip ? "-:" : "+:") + o.pattern] = v;
    }
    j["dynamic"] = dyn;
  }
  return j;
}

}  // namespace

QuantSettings QuantizationInfo::settings_for(const std::string& module) const {
  QuantSettings base;
  base.quantized = enabled() && (module != "lm_head" || lm_head);
  base.bits = bits;
  base.group_size = group_size;
  base.sym = sym;
  base.desc_act = desc_act;
  if (!base.quantized) return base;
  std::optional<QuantSettings> chosen;
  std::string chosen_key;
  for (const ModuleQuantOverride& o : dynamic) {
    if (!std::regex_search(module, std::regex(o.pattern, kPatternFlags), std::regex_constants::match_continuous))
      continue;
    QuantSettings s = base;
    s.quantized = !o.skip;
    if (o.bits) s.bits = *o.bits;
    if (o.group_size) s.group_size = *o.group_size;
    if (o.sym) s.sym = *o.sym;
    if (o.desc_act) s.desc_act = *o.desc_act;
    const std::string key = (o.skip ? "-:" : "+:") + o.pattern;
    if (chosen) {
      SLMKIT_CHECK(chosen->quantized == s.quantized && chosen->bits == s.bits && chosen->group_size == s.group_size &&
                       chosen->sym == s.sym && chosen->desc_act == s.desc_act,
                   "quantization_config.dynamic: module ", module, " matches both \"", chosen_key, "\" and \"", key,
                   "\" with different settings; make the patterns disjoint");
    } else {
      chosen = s;
      chosen_key = key;
    }
  }
  return chosen ? *chosen : base;
}

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
  // transformers would import Python from the model directory for these keys
  // (trust_remote_code; CVE-2026-4372 for _attn_implementation*); slmkit never
  // executes anything from a model directory, but says that it ignored them.
  for (const auto& item : j.items()) {
    const std::string& key = item.key();
    if (key == "auto_map" || key == "trust_remote_code" || key == "model_file" ||
        key.rfind("_attn_implementation", 0) == 0)
      c.warnings.push_back(cat(path, ": custom code present ('", key, "'); ignored (never executed)"));
  }
  const auto bos = token_ids(j, "bos_token_id", path);
  c.bos_token_id = bos.empty() ? -1 : bos[0];
  c.eos_token_ids = token_ids(j, "eos_token_id", path);
  for (int32_t id : c.eos_token_ids)
    SLMKIT_CHECK(id < c.vocab_size, path, ": eos_token_id ", id, " is outside the vocabulary of ", c.vocab_size);
  SLMKIT_CHECK(c.bos_token_id < c.vocab_size, path, ": bos_token_id ", c.bos_token_id,
               " is outside the vocabulary of ", c.vocab_size);
  if (j.contains("quantization_config") && !j["quantization_config"].is_null())
    c.quantization = parse_quantization(j["quantization_config"], path);
  parse_low_rank(j, path, c);
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
  }
  // Per-layer sizes (structured pruning) only when the layers differ.
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
  if (c.bos_token_id >= 0) j["bos_token_id"] = c.bos_token_id;
  if (c.eos_token_ids.size() == 1) j["eos_token_id"] = c.eos_token_ids[0];
  else if (!c.eos_token_ids.empty()) j["eos_token_id"] = c.eos_token_ids;
  if (c.quantization.enabled()) j["quantization_config"] = quantization_json(c.quantization);
  if (!c.low_rank.empty()) j["slmkit_low_rank"] = c.low_rank;
  j["torch_dtype"] = "float32";
  return j;
}

std::vector<double> rope_inverse_frequencies(const ModelConfig& c) {
  const int64_t half = c.head_dim / 2;
  std::vector<double> inv(static_cast<size_t>(half));
  const RopeScaling& rs = c.rope_scaling;
  for (int64_t i = 0; i < half; ++i) {
    double f = 1.0 / std::pow(c.rope_theta, static_cast<double>(2 * i) / static_cast<double>(c.head_dim));
    if (rs.type == "linear") {
      f /= rs.factor;
    } else if (rs.type == "llama3") {
      const double orig = static_cast<double>(rs.original_max_positions);
      const double low_wavelen = orig / rs.low_freq_factor;
      const double high_wavelen = orig / rs.high_freq_factor;
      const double wavelen = 2.0 * M_PI / f;
      if (wavelen > low_wavelen) {
        f /= rs.factor;
      } else if (wavelen >= high_wavelen) {
        const double s = (orig / wavelen - rs.low_freq_factor) / (rs.high_freq_factor - rs.low_freq_factor);
        f = (1.0 - s) * f / rs.factor + s * f;
      }
    }
    inv[static_cast<size_t>(i)] = f;
  }
  return inv;
}

}  // namespace slmkit
