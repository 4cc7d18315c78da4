// LoRA adapters in the Hugging Face PEFT layout, free of LibTorch:
//   <dir>/adapter_config.json        peft_type LORA, r, lora_alpha, target_modules, ...
//   <dir>/adapter_model.safetensors  base_model.model.<module>.lora_A.weight  [r, in]
//                                    base_model.model.<module>.lora_B.weight  [out, r]
// (legacy <dir>/adapter_model.bin, a torch.save file, is read too). <module> is the
// module path in the base model (model.layers.0.self_attn.q_proj, lm_head), i.e.
// slmkit's canonical linear names for Llama-family models.
//
// Only what changes the layer math y = W·x + scaling·B·A·x is supported; options
// that add other tensors or change the math (DoRA, LoRA biases, bias "all",
// modules_to_save, fan_in_fan_out) are refused with a message naming the field.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/tensor_view.h"

namespace slmkit {

struct PeftLoraConfig {
  int64_t r = 8;
  double lora_alpha = 8;
  bool use_rslora = false;  // scaling lora_alpha / √r instead of lora_alpha / r
  double lora_dropout = 0;  // training only; kept for the round trip
  // Modules the adapter was made for: a list of names/suffixes ("q_proj"), or,
  // when target_modules_regex is set, a regex over the full module name (PEFT's
  // string form). Informative on load: the tensors present decide what is applied.
  std::vector<std::string> target_modules;
  std::string target_modules_regex;
  // Per-module r / lora_alpha overrides: pattern → value, matched as PEFT does
  // (the whole module name matches "(.*\.)?(pattern)").
  std::map<std::string, int64_t> rank_pattern;
  std::map<std::string, double> alpha_pattern;
  std::string base_model_name_or_path;
  std::string task_type = "CAUSAL_LM";

  // r and lora_alpha for one module (canonical name), patterns applied. Throws
  // Error when two patterns with different values match it.
  int64_t rank_for(const std::string& module) const;
  double alpha_for(const std::string& module) const;
  // lora_alpha / r, or lora_alpha / √r with use_rslora.
  double scaling_for(const std::string& module) const;
};

// adapter_config.json ⇄ config. `what` names the file in errors.
PeftLoraConfig peft_config_from_json(const nlohmann::json& j, const std::string& what);
nlohmann::json peft_config_to_json(const PeftLoraConfig& config);

// "model.layers.0.self_attn.q_proj" → "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight".
std::string peft_tensor_name(const std::string& module, bool lora_a);

struct PeftModuleTensors {
  TensorView a;  // [r, in]
  TensorView b;  // [out, r]
};

struct PeftAdapterFiles {
  PeftLoraConfig config;
  std::map<std::string, PeftModuleTensors> modules;  // module name → tensors
  std::map<std::string, std::string> metadata;       // safetensors metadata (empty for .bin)
  std::string weights_path;
};

// Reads and validates an adapter directory: every tensor is a lora_A/lora_B
// weight, every module has both with one rank r matching the config's r for
// it (rank_pattern included), A is [r, in], B is [out, r], floating dtypes only.
PeftAdapterFiles read_peft_adapter(const std::string& dir);

// Writes adapter_model.safetensors and then adapter_config.json, each
// atomically, into an existing directory.
void write_peft_adapter(const std::string& dir, const PeftLoraConfig& config,
                        const std::map<std::string, PeftModuleTensors>& modules,
                        const std::map<std::string, std::string>& metadata = {});

}  // namespace slmkit
