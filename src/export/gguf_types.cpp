#include "export/gguf_types.h"

#include <array>

#include "core/error.h"

namespace slmkit {
namespace {

struct FileTypeInfo {
  GgufFileType type;
  std::string_view name;
  uint32_t ftype;  // llama_ftype (include/llama.h)
  GgmlType base;
};

constexpr std::array<FileTypeInfo, 7> kFileTypes = {{
    {GgufFileType::kF32, "f32", 0, GgmlType::F32},
    {GgufFileType::kF16, "f16", 1, GgmlType::F16},
    {GgufFileType::kBF16, "bf16", 32, GgmlType::BF16},
    {GgufFileType::kQ8_0, "q8_0", 7, GgmlType::Q8_0},
    {GgufFileType::kQ4_0, "q4_0", 2, GgmlType::Q4_0},
    {GgufFileType::kQ4_1, "q4_1", 3, GgmlType::Q4_1},
    {GgufFileType::kQ4_K_M, "q4_k_m", 15, GgmlType::Q4_K},
}};

const FileTypeInfo& info(GgufFileType t) {
  for (const FileTypeInfo& i : kFileTypes)
    if (i.type == t) return i;
  SLMKIT_ASSERT(false, "file type missing from the table");
  return kFileTypes[0];
}

bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

// llama-quant.cpp: more bits for the first and last eighth of the layers and every third in between.
bool use_more_bits(int64_t layer, int64_t n_layers) {
  return layer < n_layers / 8 || layer >= 7 * n_layers / 8 || (layer - n_layers / 8) % 3 == 2;
}

}  // namespace

std::string_view gguf_file_type_name(GgufFileType t) { return info(t).name; }

std::optional<GgufFileType> gguf_file_type_from_name(std::string_view name) {
  std::string lower(name);
  for (char& c : lower)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  for (const FileTypeInfo& i : kFileTypes)
    if (i.name == lower) return i.type;
  return std::nullopt;
}

uint32_t llama_ftype_id(GgufFileType t) { return info(t).ftype; }
GgmlType base_ggml_type(GgufFileType t) { return info(t).base; }
bool is_float_file_type(GgufFileType t) {
  return t == GgufFileType::kF32 || t == GgufFileType::kF16 || t == GgufFileType::kBF16;
}

GgmlType planned_tensor_type(GgufFileType file_type, const TensorRole& role, int64_t row_length) {
  const GgmlType base = base_ggml_type(file_type);
  if (is_float_file_type(file_type)) return base;
  const std::string& name = role.gguf_name;
  const bool is_head = name == "output.weight" || (!role.model_has_output && name == "token_embd.weight");
  if (is_head) {
    if (row_length % 256 != 0) return GgmlType::Q8_0;
    return base == GgmlType::Q8_0 ? GgmlType::Q8_0 : GgmlType::Q6_K;
  }
  if (file_type == GgufFileType::kQ4_K_M && role.layer >= 0 &&
      (contains(name, "attn_v.weight") || contains(name, "ffn_down")) && use_more_bits(role.layer, role.n_layers))
    return GgmlType::Q6_K;
  // llama.cpp gives GPT-2's fused attn_qkv Q5_K here, which slmkit cannot encode: one step up instead.
  if (file_type == GgufFileType::kQ4_K_M && contains(name, "attn_qkv.weight")) return GgmlType::Q6_K;
  return base;
}

GgmlType fitting_type(GgmlType wanted, int64_t row_length) {
  auto fits = [&](GgmlType t) { return row_length % ggml_type_info(t).block_size == 0; };
  if (fits(wanted)) return wanted;
  GgmlType next = GgmlType::F16;
  if (wanted == GgmlType::Q4_K) next = GgmlType::Q5_0;
  else if (wanted == GgmlType::Q6_K) next = GgmlType::Q8_0;
  return fits(next) ? next : GgmlType::F16;
}

}  // namespace slmkit
