#include "io/gguf_rules.h"

#include <cstdio>
#include <cstring>
#include <iterator>

#include "core/error.h"

namespace slmkit::gguf_detail {

int scalar_bytes(uint32_t type) {
  static constexpr int kBytes[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
  return type < std::size(kBytes) ? kBytes[type] : -1;
}

bool is_signed(GgufType t) {
  return t == GgufType::I8 || t == GgufType::I16 || t == GgufType::I32 || t == GgufType::I64;
}
bool is_integer(GgufType t) {
  return is_signed(t) || t == GgufType::U8 || t == GgufType::U16 || t == GgufType::U32 ||
         t == GgufType::U64;
}

uint64_t load_bits(GgufType t, const char* p) {
  const int n = scalar_bytes(static_cast<uint32_t>(t));
  uint64_t bits = 0;
  std::memcpy(&bits, p, static_cast<size_t>(n));
  if (is_signed(t) && n < 8 && (bits >> (8 * n - 1)) & 1) bits |= ~uint64_t{0} << (8 * n);
  return bits;
}

void append_u32(std::string& out, uint32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); }
void append_u64(std::string& out, uint64_t v) { out.append(reinterpret_cast<const char*>(&v), 8); }
void append_string(std::string& out, const std::string& s) {
  append_u64(out, s.size());
  out += s;
}

std::string shape_text(const std::vector<int64_t>& ne) {
  std::string s = "[";
  for (size_t i = 0; i < ne.size(); ++i) s += (i ? ", " : "") + std::to_string(ne[i]);
  return s + "]";
}

uint64_t saturating_mul(uint64_t a, uint64_t b) {
  uint64_t r = 0;
  return __builtin_mul_overflow(a, b, &r) ? std::numeric_limits<uint64_t>::max() : r;
}

std::string quoted(std::string_view s, size_t max_chars) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size() && i < max_chars; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + (s.size() > max_chars ? "\"..." : "\"");
}

std::string key_problem(const std::string& key) {
  if (key.empty()) return "the key is empty";
  if (key.size() > kMaxKeyBytes) return cat("the key is ", key.size(), " bytes, more than ", kMaxKeyBytes);
  for (size_t i = 0; i < key.size(); ++i) {
    const auto c = static_cast<unsigned char>(key[i]);
    if (c < 0x20 || c > 0x7e)
      return cat("byte ", i, " of the key is 0x", std::hex, int{c}, "; keys are printable ASCII");
  }
  return "";
}

std::string tensor_name_problem(const std::string& name) {
  if (name.empty()) return "the tensor name is empty";
  if (name.size() > kMaxTensorNameBytes)
    return cat("the tensor name is ", name.size(), " bytes; ggml allows at most ", kMaxTensorNameBytes);
  return "";
}

std::string alignment_problem(const GgufValue& value, uint64_t max_alignment) {
  if (value.type() != GgufType::U32)
    return cat("expected a u32 (as llama.cpp requires), found ", gguf_type_name(value.type()));
  const uint64_t a = value.as_uint();
  if (a == 0 || (a & (a - 1)) != 0) return cat("expected a power of two, found ", a);
  if (a > max_alignment) return cat("expected at most ", max_alignment, " bytes, found ", a);
  return "";
}

}  // namespace slmkit::gguf_detail
