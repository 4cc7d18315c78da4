// Which ggml type each tensor of a GGUF export gets: llama.cpp's file types
// (general.file_type) and the per-tensor choices llama-quantize makes for them
// (llama-quant.cpp llama_tensor_get_type), so that an slmkit export and a
// llama-quantize file of the same --type have the same layout and size.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "io/ggml_blocks.h"

namespace slmkit {

enum class GgufFileType { kF32, kF16, kBF16, kQ8_0, kQ4_0, kQ4_1, kQ4_K_M };

std::string_view gguf_file_type_name(GgufFileType t);  // "f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q4_k_m"
std::optional<GgufFileType> gguf_file_type_from_name(std::string_view name);  // case-insensitive
// llama_ftype as stored in general.file_type (0, 1, 32, 7, 2, 3, 15).
uint32_t llama_ftype_id(GgufFileType t);
// The file type's main tensor type (Q4_K for Q4_K_M).
GgmlType base_ggml_type(GgufFileType t);
bool is_float_file_type(GgufFileType t);

// Where a 2-D weight sits, as llama-quantize's rules look at it.
struct TensorRole {
  std::string gguf_name;  // "blk.3.attn_v.weight", "token_embd.weight", "output.weight"
  int64_t layer = -1;     // block index; -1 outside the blocks
  int64_t n_layers = 0;
  bool model_has_output = true;  // whether output.weight is stored (false: tied to token_embd)
};

// llama-quantize's type for a 2-D weight under a file type, before any fallback:
// the output head (or the tied token_embd) Q6_K for the 4-bit types (Q8_0 when
// its rows are not a multiple of 256); Q4_K_M's attn_v / ffn_down Q6_K in the
// layers use_more_bits picks (GPT-2's attn_qkv: Q6_K where llama.cpp uses Q5_K,
// which slmkit cannot encode); the base type otherwise. Float file types: the base type.
GgmlType planned_tensor_type(GgufFileType file_type, const TensorRole& role, int64_t row_length);

// The type written for rows of `row_length` when `wanted` does not divide them:
// llama.cpp's fallback chain (Q4_K → Q5_0, Q6_K → Q8_0, else F16, and F16 when
// that does not divide either). Returns `wanted` when it fits.
GgmlType fitting_type(GgmlType wanted, int64_t row_length);

}  // namespace slmkit
