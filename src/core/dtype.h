// Element types as they appear in checkpoint files, independent of LibTorch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace slmkit {

enum class DType : uint8_t {
  BOOL, U8, I8, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64,
  F8_E4M3, F8_E5M2,
};

// Size of one element in bits (all supported types are whole bytes).
int dtype_bits(DType t);
inline size_t dtype_size(DType t) { return static_cast<size_t>(dtype_bits(t) / 8); }

// safetensors spelling ("F32", "BF16", ...).
std::string_view dtype_name(DType t);
std::optional<DType> dtype_from_name(std::string_view name);

// IEEE half / bfloat16 <-> float, round-to-nearest-even on the way down.
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);
float bf16_to_f32(uint16_t b);
uint16_t f32_to_bf16(float f);

}  // namespace slmkit
