// The general.* and architecture keys of a GGUF model file, with the key names
// and value types llama.cpp's loader requires (u32 counts, f32 epsilons and RoPE
// base; it rejects a key of the wrong type). Per-layer head counts and FFN widths
// are i32 arrays, which llama.cpp reads for the `deci` architecture.
#pragma once

#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "export/gguf_types.h"
#include "io/gguf.h"
#include "model/config.h"
#include "model/gguf_layout.h"

namespace slmkit {

// general.architecture, general.type, general.name, the architecture's keys and
// general.file_type, in the converter's order (tokenizer keys and
// general.quantization_version are appended by the caller).
std::vector<GgufKeyValue> model_metadata(const ModelConfig& config, GgufArch arch, GgufFileType file_type,
                                         const std::string& name);

// Llama-3 RoPE scaling as llama.cpp stores it: rope_freqs.weight, float32
// [head_dim / 2], the divisor of each frequency (1, the factor, or the smooth
// blend in between). Undefined tensor when the config has no llama3 scaling.
at::Tensor llama3_rope_divisors(const ModelConfig& config);

}  // namespace slmkit
