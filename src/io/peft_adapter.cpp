#include "io/peft_adapter.h"

#include <cmath>
#include <filesystem>
#include <regex>

#include "core/error.h"
#include "core/strings.h"
#include "io/atomic_file.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "io/torch_checkpoint.h"

namespace slmkit {
namespace fs = std::filesystem;
namespace {

constexpr const char* kPrefix = "base_model.model.";
constexpr const char* kSuffixA = ".lora_A.weight";
constexpr const char* kSuffixB = ".lora_B.weight";


// PEFT's rule for rank_pattern / alpha_pattern keys: re.match(r"(.*\.)?(key)$", module).
bool pattern_matches(const std::string& pattern, const std::string& module) {
  try {
    return std::regex_match(module, std::regex("(.*\\.)?(" + pattern + ")"));
  } catch (const std::regex_error& e) {
    throw Error(cat("adapter_config.json: pattern \"", pattern, "\" is not a valid regular expression: ", e.what()));
  }
}

template <typename T>
T pattern_value(const std::map<std::string, T>& patterns, const std::string& module, T fallback,
                const char* field) {
  const std::string* hit = nullptr;
  T value = fallback;
  for (const auto& [pattern, v] : patterns) {
    if (!pattern_matches(pattern, module)) continue;
    SLMKIT_CHECK(hit == nullptr || v == value, "adapter_config.json: ", field, " patterns \"", *hit, "\" and \"",
                 pattern, "\" both match module ", module,
                 " with different values; PEFT takes the first in file order, which slmkit cannot see: make them "
                 "disjoint");
    hit = &pattern;
    value = v;
  }
  return value;
}

// Fields that add tensors or change the layer math; any other value than the
// plain-LoRA one is refused.
void refuse_unsupported(const nlohmann::json& j, const std::string& what) {
  auto field_is = [&](const char* key, auto&& plain) {
    const auto it = j.find(key);
    return it == j.end() || it->is_null() || plain(*it);
  };
  SLMKIT_CHECK(field_is("peft_type", [](const nlohmann::json& v) { return v == "LORA"; }), what,
               ": peft_type is ", j.value("peft_type", nlohmann::json()).dump(), "; only LORA adapters are supported");
  SLMKIT_CHECK(field_is("bias", [](const nlohmann::json& v) { return v == "none"; }), what, ": bias is ",
               j["bias"].dump(), "; only \"none\" is supported (trained biases are not part of a LoRA delta)");
  SLMKIT_CHECK(field_is("fan_in_fan_out", [](const nlohmann::json& v) { return v == false; }), what,
               ": fan_in_fan_out is true (GPT-2 Conv1D layout); slmkit adapters address [out, in] linears only");
  SLMKIT_CHECK(field_is("use_dora", [](const nlohmann::json& v) { return v == false; }), what,
               ": use_dora is true; DoRA (magnitude vectors) is not supported");
  SLMKIT_CHECK(field_is("lora_bias", [](const nlohmann::json& v) { return v == false; }), what,
               ": lora_bias is true; LoRA biases are not supported");
  SLMKIT_CHECK(field_is("modules_to_save", [](const nlohmann::json& v) { return v.is_array() && v.empty(); }), what,
               ": modules_to_save is ", j["modules_to_save"].dump(),
               "; adapters that carry full module weights are not supported");
  SLMKIT_CHECK(field_is("layer_replication", [](const nlohmann::json&) { return false; }), what,
               ": layer_replication is set; adapters that duplicate layers are not supported");
  SLMKIT_CHECK(field_is("trainable_token_indices", [](const nlohmann::json&) { return false; }), what,
               ": trainable_token_indices is set; embedding updates are not supported");
  SLMKIT_CHECK(field_is("target_parameters", [](const nlohmann::json& v) { return v.is_array() && v.empty(); }),
               what, ": target_parameters is set; only linear modules are supported");
  // These initialisations rewrite the base weights (W − BA); the saved adapter
  // is only right on top of that modified base.
  const auto init = j.find("init_lora_weights");
  if (init != j.end() && init->is_string()) {
    const std::string s = init->get<std::string>();
    SLMKIT_CHECK(s.rfind("pissa", 0) != 0 && s != "olora" && s != "corda", what, ": init_lora_weights is \"", s,
                 "\", which modifies the base weights; convert the adapter to plain LoRA first (PEFT's "
                 "path_initial_model_for_weight_conversion)");
  }
}

template <typename T>
T get_field(const nlohmann::json& j, const char* key, const std::string& what, T fallback) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  try {
    return it->get<T>();
  } catch (const nlohmann::json::exception&) {
    throw Error(cat(what, ": field ", key, " has the wrong type (found ", it->dump(), ")"));
  }
}

std::string module_of(const std::string& tensor, bool* lora_a) {
  if (tensor.rfind(kPrefix, 0) != 0) return "";
  const bool a = ends_with(tensor, kSuffixA), b = ends_with(tensor, kSuffixB);
  if (!a && !b) return "";
  *lora_a = a;
  const size_t start = std::string(kPrefix).size(), end = tensor.size() - std::string(kSuffixA).size();
  return end > start ? tensor.substr(start, end - start) : "";
}

bool floating(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16 || t == DType::F64; }

}  // namespace

int64_t PeftLoraConfig::rank_for(const std::string& module) const {
  return pattern_value(rank_pattern, module, r, "rank_pattern");
}

double PeftLoraConfig::alpha_for(const std::string& module) const {
  return pattern_value(alpha_pattern, module, lora_alpha, "alpha_pattern");
}

double PeftLoraConfig::scaling_for(const std::string& module) const {
  const double rank = static_cast<double>(rank_for(module));
  return alpha_for(module) / (use_rslora ? std::sqrt(rank) : rank);
}

PeftLoraConfig peft_config_from_json(const nlohmann::json& j, const std::string& what) {
  SLMKIT_CHECK(j.is_object(), what, ": expected a JSON object");
  refuse_unsupported(j, what);
  PeftLoraConfig c;
  c.r = get_field<int64_t>(j, "r", what, c.r);
  c.lora_alpha = get_field<double>(j, "lora_alpha", what, c.lora_alpha);
  c.use_rslora = get_field<bool>(j, "use_rslora", what, false);
  c.lora_dropout = get_field<double>(j, "lora_dropout", what, 0.0);
  c.base_model_name_or_path = get_field<std::string>(j, "base_model_name_or_path", what, "");
  c.task_type = get_field<std::string>(j, "task_type", what, "");
  SLMKIT_CHECK(c.r >= 1, what, ": r must be a positive integer, found ", c.r);
  SLMKIT_CHECK(std::isfinite(c.lora_alpha), what, ": lora_alpha must be a finite number");
  const auto targets = j.find("target_modules");
  if (targets != j.end() && targets->is_string()) {
    c.target_modules_regex = targets->get<std::string>();
  } else {
    c.target_modules = get_field<std::vector<std::string>>(j, "target_modules", what, {});
  }
  c.rank_pattern = get_field<std::map<std::string, int64_t>>(j, "rank_pattern", what, {});
  c.alpha_pattern = get_field<std::map<std::string, double>>(j, "alpha_pattern", what, {});
  for (const auto& [pattern, rank] : c.rank_pattern)
    SLMKIT_CHECK(rank >= 1, what, ": rank_pattern \"", pattern, "\" gives r ", rank, "; ranks must be positive");
  return c;
}

nlohmann::json peft_config_to_json(const PeftLoraConfig& c) {
  // The fields PEFT's LoraConfig writes, so that PEFT, llama.cpp's
  // convert_lora_to_gguf.py and other readers find what they expect; no
  // slmkit-only keys (older PEFT versions reject unknown ones).
  nlohmann::json j = {{"peft_type", "LORA"},
                      {"task_type", c.task_type.empty() ? nlohmann::json() : nlohmann::json(c.task_type)},
                      {"base_model_name_or_path", c.base_model_name_or_path},
                      {"r", c.r},
                      {"lora_alpha", c.lora_alpha},
                      {"lora_dropout", c.lora_dropout},
                      {"use_rslora", c.use_rslora},
                      {"rank_pattern", c.rank_pattern},
                      {"alpha_pattern", c.alpha_pattern},
                      {"bias", "none"},
                      {"fan_in_fan_out", false},
                      {"use_dora", false},
                      {"init_lora_weights", true},
                      {"inference_mode", true},
                      {"modules_to_save", nullptr},
                      {"layers_to_transform", nullptr},
                      {"layers_pattern", nullptr},
                      {"revision", nullptr}};
  j["target_modules"] = c.target_modules_regex.empty() ? nlohmann::json(c.target_modules)
                                                       : nlohmann::json(c.target_modules_regex);
  return j;
}

std::string peft_tensor_name(const std::string& module, bool lora_a) {
  return kPrefix + module + (lora_a ? kSuffixA : kSuffixB);
}

PeftAdapterFiles read_peft_adapter(const std::string& dir) {
  const fs::path root(dir);
  const std::string config_path = (root / "adapter_config.json").string();
  std::error_code ec;
  SLMKIT_CHECK(fs::is_directory(root, ec), dir, ": not a directory; an adapter is a directory with "
               "adapter_config.json and adapter_model.safetensors");
  SLMKIT_CHECK(fs::exists(config_path, ec), dir, ": no adapter_config.json (is this a PEFT adapter directory?)");
  PeftAdapterFiles out;
  out.config = peft_config_from_json(read_json_file(config_path), config_path);

  const fs::path st = root / "adapter_model.safetensors", bin = root / "adapter_model.bin";
  TensorSet set;
  if (fs::exists(st, ec)) {
    out.weights_path = st.string();
    set = read_safetensors(out.weights_path);
  } else if (fs::exists(bin, ec)) {
    out.weights_path = bin.string();
    set = read_torch_checkpoint(out.weights_path);
  } else {
    throw Error(cat(dir, ": no adapter_model.safetensors (or legacy adapter_model.bin)"));
  }
  out.metadata = set.metadata;
  const std::string& where = out.weights_path;

  std::map<std::string, std::pair<const TensorView*, const TensorView*>> found;
  for (const auto& [name, view] : set.tensors) {
    bool is_a = false;
    const std::string module = module_of(name, &is_a);
    SLMKIT_CHECK(!module.empty(), where, ": tensor ", name, " is not a LoRA weight (expected ", kPrefix,
                 "<module>", kSuffixA, " or ", kSuffixB,
                 "); adapters with other tensors (DoRA, modules_to_save, named adapters) are not supported");
    SLMKIT_CHECK(floating(view.dtype), where, ": tensor ", name, " has dtype ", dtype_name(view.dtype),
                 "; expected F32, F16, BF16 or F64");
    SLMKIT_CHECK(view.shape.size() == 2, where, ": tensor ", name, " has shape ", shape_str(view.shape),
                 "; LoRA weights are 2-D");
    (is_a ? found[module].first : found[module].second) = &view;
  }
  SLMKIT_CHECK(!found.empty(), where, ": the adapter holds no LoRA weights");
  for (const auto& [module, ab] : found) {
    SLMKIT_CHECK(ab.first && ab.second, where, ": module ", module, " has ", ab.first ? "lora_A" : "lora_B",
                 " but no ", ab.first ? "lora_B" : "lora_A");
    const TensorView& a = *ab.first;
    const TensorView& b = *ab.second;
    const int64_t r = a.shape[0];
    SLMKIT_CHECK(b.shape[1] == r, where, ": module ", module, ": lora_A is ", shape_str(a.shape), " and lora_B is ",
                 shape_str(b.shape), "; expected A [r, in] and B [out, r] with one r");
    const int64_t expected = out.config.rank_for(module);
    SLMKIT_CHECK(r == expected, where, ": module ", module, " has rank ", r, " but adapter_config.json gives r ",
                 expected, " for it (r / rank_pattern); the scaling lora_alpha/r would be wrong");
    out.modules[module] = PeftModuleTensors{a, b};
  }
  return out;
}

void write_peft_adapter(const std::string& dir, const PeftLoraConfig& config,
                        const std::map<std::string, PeftModuleTensors>& modules,
                        const std::map<std::string, std::string>& metadata) {
  SLMKIT_CHECK(!modules.empty(), dir, ": refusing to write an adapter without modules");
  std::map<std::string, TensorView> views;
  for (const auto& [module, t] : modules) {
    SLMKIT_CHECK(t.a.shape.size() == 2 && t.b.shape.size() == 2 && t.b.shape[1] == t.a.shape[0], dir, ": module ",
                 module, ": A ", shape_str(t.a.shape), " and B ", shape_str(t.b.shape), " do not form a LoRA pair");
    SLMKIT_CHECK(t.a.shape[0] == config.rank_for(module), dir, ": module ", module, " has rank ", t.a.shape[0],
                 " but the config gives ", config.rank_for(module));
    views[peft_tensor_name(module, true)] = t.a;
    views[peft_tensor_name(module, false)] = t.b;
  }
  std::map<std::string, std::string> meta = metadata;
  meta.emplace("format", "pt");  // what PEFT / transformers write
  // The weights first, the config last: a directory with a config always has its weights.
  write_safetensors((fs::path(dir) / "adapter_model.safetensors").string(), views, meta);
  write_file_atomic((fs::path(dir) / "adapter_config.json").string(), peft_config_to_json(config).dump(2) + "\n");
}

}  // namespace slmkit
