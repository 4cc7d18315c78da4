// LoRA adapters and Models: reading/writing PEFT adapter directories for a
// model, attaching them unmerged (Linear::adapter), and merging them into the
// weights — dense weights exactly, quantized weights by re-quantizing
// dequant(W_q) + ΔW on the layer's own grid (RTN), with the error reported,
// low-rank weights by appending the adapter's factors (exact).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "lowrank/lora.h"
#include "model/model.h"

namespace slmkit {

// Reads a PEFT adapter directory and checks it against `model`: every module
// is a linear of the model and A/B fit its [out, in]. Tensors are float32 copies.
LoraAdapter load_lora_adapter(const std::string& dir, const Model& model);

// Writes `adapter` into the existing directory `dir` (adapter_model.safetensors,
// then adapter_config.json) with the factors stored as `dtype` (float32,
// float16 or bfloat16).
void save_lora_adapter(const std::string& dir, const LoraAdapter& adapter, at::ScalarType dtype = at::kFloat,
                       const std::map<std::string, std::string>& metadata = {});

// Sets Linear::adapter of every module (replacing one already there). The
// adapter's tensors are shared, not copied.
void attach_lora_adapter(Model& model, const LoraAdapter& adapter);
// Removes every attached adapter.
void detach_lora_adapters(Model& model);

struct LoraMergeReport {
  std::string name;
  std::string form;            // "dense", "quantized", "low-rank"
  std::string grid;            // quantized: the grid re-quantized to
  // ‖Ŵ − (W + ΔW)‖_F / ‖W + ΔW‖_F of the stored result Ŵ against the exact merge
  // (0 for dense and low-rank; W is dequant(W_q) for quantized layers).
  double relative_error = 0;
  // ‖Ŵ − (W + ΔW)‖_F / ‖ΔW‖_F: how much of the adapter's change re-quantization lost.
  double delta_error = 0;
};

// Folds the adapter into the weights and detaches it from those linears.
std::vector<LoraMergeReport> merge_lora_adapter(Model& model, const LoraAdapter& adapter);

}  // namespace slmkit
