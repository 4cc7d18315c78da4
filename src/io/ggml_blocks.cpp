#include "io/ggml_blocks.h"

// The type table and the public entry points; the codecs themselves live in
// ggml_quants_32.cpp (Q4_0, Q4_1, Q5_0, Q8_0), ggml_kquants.cpp (Q4_K, Q6_K) and
// ggml_exact.cpp (GPTQ grids stored without re-quantizing).

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <string>

#include "core/dtype.h"
#include "core/error.h"
#include "io/ggml_fit.h"

namespace slmkit {
namespace {

using namespace ggml_detail;

// The one type table (ggml.c's type_traits: name, block size, block bytes).
constexpr std::array<GgmlTypeInfo, 36> kTypes = {{
    {GgmlType::F32, "f32", 1, 4, true},
    {GgmlType::F16, "f16", 1, 2, true},
    {GgmlType::Q4_0, "q4_0", 32, 18, true},
    {GgmlType::Q4_1, "q4_1", 32, 20, true},
    {GgmlType::Q5_0, "q5_0", 32, 22, true},
    {GgmlType::Q5_1, "q5_1", 32, 24, false},
    {GgmlType::Q8_0, "q8_0", 32, 34, true},
    {GgmlType::Q8_1, "q8_1", 32, 36, false},
    {GgmlType::Q2_K, "q2_K", 256, 84, false},
    {GgmlType::Q3_K, "q3_K", 256, 110, false},
    {GgmlType::Q4_K, "q4_K", 256, 144, true},
    {GgmlType::Q5_K, "q5_K", 256, 176, false},
    {GgmlType::Q6_K, "q6_K", 256, 210, true},
    {GgmlType::Q8_K, "q8_K", 256, 292, false},
    {GgmlType::IQ2_XXS, "iq2_xxs", 256, 66, false},
    {GgmlType::IQ2_XS, "iq2_xs", 256, 74, false},
    {GgmlType::IQ3_XXS, "iq3_xxs", 256, 98, false},
    {GgmlType::IQ1_S, "iq1_s", 256, 50, false},
    {GgmlType::IQ4_NL, "iq4_nl", 32, 18, false},
    {GgmlType::IQ3_S, "iq3_s", 256, 110, false},
    {GgmlType::IQ2_S, "iq2_s", 256, 82, false},
    {GgmlType::IQ4_XS, "iq4_xs", 256, 136, false},
    {GgmlType::I8, "i8", 1, 1, false},
    {GgmlType::I16, "i16", 1, 2, false},
    {GgmlType::I32, "i32", 1, 4, false},
    {GgmlType::I64, "i64", 1, 8, false},
    {GgmlType::F64, "f64", 1, 8, false},
    {GgmlType::IQ1_M, "iq1_m", 256, 56, false},
    {GgmlType::BF16, "bf16", 1, 2, true},
    {GgmlType::TQ1_0, "tq1_0", 256, 54, false},
    {GgmlType::TQ2_0, "tq2_0", 256, 66, false},
    {GgmlType::MXFP4, "mxfp4", 32, 17, false},
    {GgmlType::NVFP4, "nvfp4", 64, 36, false},
    {GgmlType::Q1_0, "q1_0", 128, 18, false},
    {GgmlType::Q2_0, "q2_0", 64, 18, false},
}};

std::string codec_type_names() {  // "f32, f16, q4_0, ..." from the table
  std::string names;
  for (const GgmlTypeInfo& info : kTypes) {
    if (!info.has_codec) continue;
    if (!names.empty()) names += ", ";
    names += info.name;
  }
  return names;
}

}  // namespace

// ---------------------------------------------------------------- type table

const GgmlTypeInfo* find_ggml_type(uint32_t id) {
  for (const GgmlTypeInfo& info : kTypes)
    if (static_cast<uint32_t>(info.type) == id) return &info;
  return nullptr;
}

const GgmlTypeInfo& ggml_type_info(GgmlType type) {
  const GgmlTypeInfo* info = find_ggml_type(static_cast<uint32_t>(type));
  SLMKIT_ASSERT(info != nullptr, "ggml type id ", static_cast<uint32_t>(type), " is not in the table");
  return *info;
}

std::string_view ggml_type_name(GgmlType type) { return ggml_type_info(type).name; }

std::optional<GgmlType> ggml_type_from_name(std::string_view name) {
  const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  for (const GgmlTypeInfo& info : kTypes) {
    if (info.name.size() != name.size()) continue;
    if (std::equal(name.begin(), name.end(), info.name.begin(),
                   [&](char a, char b) { return lower(a) == lower(b); }))
      return info.type;
  }
  return std::nullopt;
}

size_t ggml_row_bytes(GgmlType type, int64_t n_elements) {
  const GgmlTypeInfo& info = ggml_type_info(type);
  SLMKIT_CHECK(n_elements >= 0 && n_elements % info.block_size == 0, "ggml type ", info.name,
               ": a row of ", n_elements, " elements is not a whole number of ", info.block_size,
               "-element blocks; the row length must be a multiple of ", info.block_size);
  size_t bytes = 0;
  const bool overflow = __builtin_mul_overflow(static_cast<size_t>(n_elements / info.block_size),
                                               info.block_bytes, &bytes);
  SLMKIT_CHECK(!overflow, "ggml type ", info.name, ": ", n_elements,
               " elements overflow the byte count");
  return bytes;
}

void pack_q4_k_scales(const uint8_t scale[8], const uint8_t min[8], uint8_t packed[12]) {
  for (int k = 0; k < 4; ++k) {
    packed[k] = static_cast<uint8_t>((scale[k] & 63) | ((scale[k + 4] >> 4) << 6));
    packed[k + 4] = static_cast<uint8_t>((min[k] & 63) | ((min[k + 4] >> 4) << 6));
    packed[k + 8] = static_cast<uint8_t>((scale[k + 4] & 0xF) | ((min[k + 4] & 0xF) << 4));
  }
}

void unpack_q4_k_scales(const uint8_t packed[12], uint8_t scale[8], uint8_t min[8]) {
  for (int k = 0; k < 4; ++k) {
    scale[k] = packed[k] & 63;
    min[k] = packed[k + 4] & 63;
    scale[k + 4] = static_cast<uint8_t>((packed[k + 8] & 0xF) | ((packed[k] >> 6) << 4));
    min[k + 4] = static_cast<uint8_t>((packed[k + 8] >> 4) | ((packed[k + 4] >> 6) << 4));
  }
}

void dequantize_row(GgmlType type, const uint8_t* blocks, int64_t n, float* out) {
  const GgmlTypeInfo& info = ggml_type_info(type);
  ggml_row_bytes(type, n);  // validates n
  if (n == 0) return;
  const int64_t n_blocks = n / info.block_size;
  switch (type) {
    case GgmlType::F32: std::memcpy(out, blocks, static_cast<size_t>(n) * 4); return;
    case GgmlType::F16:
      for (int64_t i = 0; i < n; ++i) out[i] = f16_to_f32(load_block<uint16_t>(blocks + 2 * i));
      return;
    case GgmlType::BF16:
      for (int64_t i = 0; i < n; ++i) out[i] = bf16_to_f32(load_block<uint16_t>(blocks + 2 * i));
      return;
    case GgmlType::Q4_0: dequantize_q4_0(blocks, n_blocks, out); return;
    case GgmlType::Q4_1: dequantize_q4_1(blocks, n_blocks, out); return;
    case GgmlType::Q5_0: dequantize_q5_0(blocks, n_blocks, out); return;
    case GgmlType::Q8_0: dequantize_q8_0(blocks, n_blocks, out); return;
    case GgmlType::Q4_K: dequantize_q4_k(blocks, n_blocks, out); return;
    case GgmlType::Q6_K: dequantize_q6_k(blocks, n_blocks, out); return;
    default:
      throw Error(cat("ggml type ", info.name, ": slmkit cannot decode it (supported: ", codec_type_names(), ")"));
  }
}

void quantize_row(GgmlType type, const float* values, int64_t n, uint8_t* out,
                  const float* importance) {
  const GgmlTypeInfo& info = ggml_type_info(type);
  ggml_row_bytes(type, n);  // validates n
  const bool takes_importance = type == GgmlType::Q4_0 || type == GgmlType::Q4_1 || type == GgmlType::Q5_0 ||
                                type == GgmlType::Q4_K || type == GgmlType::Q6_K;
  SLMKIT_CHECK(importance == nullptr || takes_importance, "ggml type ", info.name,
               ": importance weights are only used by q4_0, q4_1, q5_0, q4_K and q6_K; ",
               "llama.cpp's ", info.name, " quantizer ignores them");
  for (int64_t i = 0; importance != nullptr && i < n; ++i)
    SLMKIT_CHECK(std::isfinite(importance[i]) && importance[i] >= 0, "quantizing to ", info.name,
                 ": importance weight ", i, " is ", importance[i], "; weights must be finite and >= 0");
  if (type != GgmlType::F32 && type != GgmlType::F16 && type != GgmlType::BF16) {
    for (int64_t i = 0; i < n; ++i)
      SLMKIT_CHECK(std::isfinite(values[i]), "quantizing to ", info.name, ": element ", i, " is ",
                   values[i], "; a block scale cannot be computed from a non-finite value");
  }
  if (n == 0) return;
  const int64_t n_blocks = n / info.block_size;
  switch (type) {
    case GgmlType::F32: std::memcpy(out, values, static_cast<size_t>(n) * 4); return;
    case GgmlType::F16:
      for (int64_t i = 0; i < n; ++i) store_block(f32_to_f16(values[i]), out + 2 * i);
      return;
    case GgmlType::BF16:
      for (int64_t i = 0; i < n; ++i) store_block(f32_to_bf16(values[i]), out + 2 * i);
      return;
    case GgmlType::Q4_0: quantize_q4_0(values, n_blocks, importance, out); return;
    case GgmlType::Q4_1: quantize_q4_1(values, n_blocks, importance, out); return;
    case GgmlType::Q5_0: quantize_q5_0(values, n_blocks, importance, out); return;
    case GgmlType::Q8_0: quantize_q8_0(values, n_blocks, out); return;
    case GgmlType::Q4_K: quantize_q4_k(values, n_blocks, importance, out); return;
    case GgmlType::Q6_K: quantize_q6_k(values, n_blocks, importance, out); return;
    default:
      throw Error(cat("ggml type ", info.name, ": slmkit cannot encode it (supported: ", codec_type_names(), ")"));
  }
}

}  // namespace slmkit
