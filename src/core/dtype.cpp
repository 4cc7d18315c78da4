#include "core/dtype.h"

#include <cstring>

namespace slmkit {
namespace {
struct DTypeInfo {
  DType type;
  const char* name;
  int bits;
};
constexpr DTypeInfo kDTypes[] = {
    {DType::BOOL, "BOOL", 8}, {DType::U8, "U8", 8},     {DType::I8, "I8", 8},
    {DType::I16, "I16", 16},  {DType::U16, "U16", 16},  {DType::F16, "F16", 16},
    {DType::BF16, "BF16", 16}, {DType::I32, "I32", 32}, {DType::U32, "U32", 32},
    {DType::F32, "F32", 32},  {DType::F64, "F64", 64},  {DType::I64, "I64", 64},
    {DType::U64, "U64", 64},  {DType::F8_E4M3, "F8_E4M3", 8}, {DType::F8_E5M2, "F8_E5M2", 8},
};
}  // namespace

int dtype_bits(DType t) { return kDTypes[static_cast<int>(t)].bits; }
std::string_view dtype_name(DType t) { return kDTypes[static_cast<int>(t)].name; }

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const auto& d : kDTypes)
    if (name == d.name) return d.type;
  return std::nullopt;
}

float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      exp = 127 - 15 + 1;
      while ((mant & 0x400) == 0) {
        mant <<= 1;
        --exp;
      }
      mant &= 0x3ff;
      bits = sign | (exp << 23) | (mant << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t f32_to_f16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  const uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u)  // inf or nan
    return sign | 0x7c00 | (absx > 0x7f800000u ? 0x200 : 0);
  if (absx >= 0x477ff000u) return sign | 0x7c00;  // rounds to >= 65520: overflow
  if (absx < 0x38800000u) {                        // below smallest normal half
    if (absx < 0x33000000u) return sign;           // rounds to zero
    const int e = static_cast<int>(absx >> 23);
    uint32_t m = (absx & 0x7fffff) | 0x800000;
    const int shift = 126 - e;  // 14 + (113 - e) - 1
    const uint32_t half = 1u << (shift - 1);
    uint32_t r = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1);
    if (rem > half || (rem == half && (r & 1))) ++r;
    return sign | static_cast<uint16_t>(r);
  }
  uint32_t r = absx - 0x38000000u;  // rebias exponent 127 -> 15
  const uint32_t rem = r & 0x1fff;
  r >>= 13;
  if (rem > 0x1000 || (rem == 0x1000 && (r & 1))) ++r;
  return sign | static_cast<uint16_t>(r);
}

float bf16_to_f32(uint16_t b) {
  const uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t f32_to_bf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40);  // quiet nan
  x += 0x7fff + ((x >> 16) & 1);
  return static_cast<uint16_t>(x >> 16);
}

}  // namespace slmkit
