// How a slmkit Model maps onto llama.cpp's GGUF model layout, shared by the GGUF
// exporter (src/export) and the GGUF loader (model/gguf_checkpoint): the GGUF
// architecture, tensor names, and the RoPE row order of q/k.
//
// Architectures (llama.cpp, Feb 2025):
//   llama — Llama/Mistral/TinyLlama/SmolLM with the same sizes in every layer;
//   deci  — the same block with per-layer head counts and FFN widths (llama.cpp
//           reads arrays for them, and its `llama` graph uses layer 0's sizes for
//           every layer, so structurally pruned models go here);
//   qwen2 — Qwen2 (q/k/v biases, rotate-half RoPE);
//   gpt2  — GPT-2 (fused q/k/v, LayerNorm, learned positions).
//
// RoPE: slmkit's Model holds q/k rows in Hugging Face's rotate-half order; llama
// and deci rotate interleaved pairs, so their q/k rows (and biases) are stored
// permuted: GGUF row h·hd + 2i + j holds HF row h·hd + j·hd/2 + i (j ∈ {0, 1}).
// Whole rows move, so quantized rows (codes and scales) move exactly.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <ATen/ATen.h>

#include "model/config.h"

namespace slmkit {

enum class GgufArch { kLlama, kDeci, kQwen2, kGpt2 };

std::string_view gguf_arch_name(GgufArch arch);  // "llama", "deci", "qwen2", "gpt2"
std::optional<GgufArch> gguf_arch_from_name(std::string_view name);

// Whether every layer has the same head counts and FFN width.
bool has_uniform_layers(const ModelConfig& config);

// The GGUF architecture for a config; throws Error when llama.cpp cannot run it
// (names the reason: e.g. a pruned Qwen2, whose llama.cpp graph has fixed sizes).
GgufArch gguf_arch_for(const ModelConfig& config);

// Whether q/k rows are stored in interleaved-pair RoPE order (llama, deci).
inline bool gguf_interleaves_rope(GgufArch arch) { return arch == GgufArch::kLlama || arch == GgufArch::kDeci; }

// The GGUF name of a canonical parameter name ("model.layers.3.self_attn.q_proj.weight"
// → "blk.3.attn_q.weight", "lm_head.weight" → "output.weight"); nullopt when the
// name has no GGUF counterpart. GPT-2's q/k/v are fused into blk.N.attn_qkv by
// the exporter itself; they have no name here.
std::optional<std::string> gguf_tensor_name(const std::string& canonical);
// The inverse for the llama-family names; nullopt for unknown names.
std::optional<std::string> canonical_tensor_name(const std::string& gguf_name);

// order[r] = the Hugging Face row stored at GGUF row r, for n_heads heads of
// head_dim rows each (head_dim even).
std::vector<int64_t> interleaved_rope_order(int64_t n_heads, int64_t head_dim);
// Rows of t (dim 0) from HF order to GGUF interleaved order, and back.
at::Tensor rows_to_interleaved_rope(const at::Tensor& t, int64_t n_heads, int64_t head_dim);
at::Tensor rows_from_interleaved_rope(const at::Tensor& t, int64_t n_heads, int64_t head_dim);

}  // namespace slmkit
