// Loading a GGUF model file (llama.cpp's llama, deci, qwen2 and gpt2 layouts, as
// slmkit's exporter and llama.cpp's converter write them) as a Model, so that
// `slmkit eval model.gguf` evaluates exactly what the file holds.
//
// Q4_0 and Q8_0 weights become QuantizedWeights (4-bit / 8-bit symmetric,
// groups of 32) code for code: a GPTQ grid exported exactly comes back as the
// same dequantized weights, so the GGUF evaluates to the source model's
// perplexity. Every other type is dequantized to dense float32 (then the compute
// dtype). q/k rows stored in interleaved RoPE order (llama, deci) are put back
// in rotate-half order; GPT-2's fused attn_qkv is split into q/k/v.
#pragma once

#include <string>

#include <ATen/ATen.h>

#include "io/gguf.h"
#include "model/model.h"

namespace slmkit {

// Whether `path` is a file starting with the GGUF magic.
bool looks_like_gguf(const std::string& path);

// The model configuration from a GGUF file's metadata and tensor shapes. Throws
// Error naming the file and key for missing or inconsistent values and for
// architectures or features slmkit cannot run.
ModelConfig config_from_gguf(const GgufFile& file);

Model load_gguf_model(const std::string& path, at::ScalarType dtype = at::kFloat);

}  // namespace slmkit
