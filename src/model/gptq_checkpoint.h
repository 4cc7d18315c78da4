// GPTQ checkpoints (AutoGPTQ / GPTQModel "gptq" v1 format, what transformers,
// vLLM and llama.cpp's converter read): a quantized linear `<name>` is stored as
// <name>.qweight (I32), .qzeros (I32), .scales (F16), .g_idx (I32) [+ .bias],
// described by config.json "quantization_config" (see QuantizationInfo).
// checkpoint.cpp dispatches here; this file holds the format rules.
#pragma once

#include <map>
#include <string>

#include <ATen/ATen.h>

#include "core/tensor_view.h"
#include "model/model.h"

namespace slmkit {

// The GPTQ tensor suffixes of one linear ("qweight", "qzeros", "scales", "g_idx").
bool is_gptq_part(const std::string& suffix);

// Builds one linear's packed weights from its tensors (suffix → view), checked
// against `settings`: dtypes, shapes implied by bits and group size, g_idx range,
// symmetric zero points. Errors name the tensor, what was expected and found.
QuantizedWeights gptq_weights_from_tensors(const std::string& linear, const std::map<std::string, TensorView>& parts,
                                           const QuantSettings& settings, const std::string& source);

// Installs the quantized linears (linear name → its GPTQ tensors) in `m` per
// m.config.quantization, and checks every linear is stored the way the config
// says: quantized ones as qweight..., unquantized ones as a dense .weight.
void load_gptq_linears(Model& m, const std::map<std::string, std::map<std::string, TensorView>>& parts,
                       const std::string& source);

// Adds <linear>.qweight/.qzeros/.scales/.g_idx to `out`.
void add_gptq_tensors(const std::string& linear, const QuantizedWeights& q, std::map<std::string, at::Tensor>& out);

// A quantization_config describing the model's linears as they are now: the
// most common settings as the default, "+:" dynamic overrides for linears that
// differ (mixed precision), "-:" for dense decoder linears, lm_head flag.
// method "" when nothing is quantized. Throws Error for models that cannot be
// saved as GPTQ (GPT-2's fused layers, a quantized tied lm_head).
QuantizationInfo describe_quantization(const Model& m);

}  // namespace slmkit
