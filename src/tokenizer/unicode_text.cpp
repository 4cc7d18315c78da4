#include "tokenizer/unicode_text.h"

#include <cstdlib>

#include <utf8proc.h>

#include "core/error.h"

namespace slmkit::unicode {
namespace {

bool is_continuation(uint8_t byte) { return (byte & 0xC0) == 0x80; }

// Number of bytes at text[pos] that form a valid prefix of a UTF-8 sequence
// (at least 1): the unit that from_utf8_lossy replaces by one U+FFFD.
size_t invalid_sequence_length(std::string_view text, size_t pos) {
  const uint8_t lead = static_cast<uint8_t>(text[pos]);
  size_t needed = 0;
  uint8_t second_min = 0x80, second_max = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    needed = 1;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    needed = 2;
    if (lead == 0xE0) second_min = 0xA0;  // overlong
    if (lead == 0xED) second_max = 0x9F;  // surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    needed = 3;
    if (lead == 0xF0) second_min = 0x90;  // overlong
    if (lead == 0xF4) second_max = 0x8F;  // above U+10FFFF
  } else {
    return 1;
  }
  size_t length = 1;
  for (size_t i = 1; i <= needed && pos + i < text.size(); ++i) {
    const uint8_t byte = static_cast<uint8_t>(text[pos + i]);
    const bool ok = i == 1 ? (byte >= second_min && byte <= second_max) : is_continuation(byte);
    if (!ok) break;
    ++length;
  }
  return length;
}

}  // namespace

bool decode_utf8(std::string_view text, size_t& pos, uint32_t& codepoint) {
  if (pos >= text.size()) return false;
  const uint8_t lead = static_cast<uint8_t>(text[pos]);
  if (lead < 0x80) {
    codepoint = lead;
    ++pos;
    return true;
  }
  size_t extra = 0;
  uint32_t value = 0, min_value = 0;
  if ((lead & 0xE0) == 0xC0) {
    extra = 1, value = lead & 0x1F, min_value = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    extra = 2, value = lead & 0x0F, min_value = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    extra = 3, value = lead & 0x07, min_value = 0x10000;
  } else {
    return false;
  }
  if (pos + extra >= text.size()) return false;  // truncated sequence
  for (size_t i = 1; i <= extra; ++i) {
    const uint8_t byte = static_cast<uint8_t>(text[pos + i]);
    if (!is_continuation(byte)) return false;
    value = (value << 6) | (byte & 0x3F);
  }
  if (value < min_value || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) return false;
  codepoint = value;
  pos += extra + 1;
  return true;
}

void append_utf8(uint32_t codepoint, std::string& out) {
  SLMKIT_ASSERT(codepoint <= 0x10FFFF && !(codepoint >= 0xD800 && codepoint <= 0xDFFF),
                "not a Unicode scalar value: ", codepoint);
  if (codepoint < 0x80) {
    out.push_back(static_cast<char>(codepoint));
  } else if (codepoint < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (codepoint >> 6)));
    out.push_back(static_cast<char>(0x80 | (codepoint & 0x3F)));
  } else if (codepoint < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (codepoint >> 12)));
    out.push_back(static_cast<char>(0x80 | ((codepoint >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (codepoint & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (codepoint >> 18)));
    out.push_back(static_cast<char>(0x80 | ((codepoint >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((codepoint >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (codepoint & 0x3F)));
  }
}

size_t find_invalid_utf8(std::string_view text) {
  size_t pos = 0;
  uint32_t codepoint = 0;
  while (pos < text.size()) {
    if (static_cast<uint8_t>(text[pos]) < 0x80) {  // fast path for ASCII
      ++pos;
      continue;
    }
    if (!decode_utf8(text, pos, codepoint)) return pos;
  }
  return std::string_view::npos;
}

std::string repair_utf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  size_t pos = 0;
  uint32_t codepoint = 0;
  while (pos < bytes.size()) {
    const size_t start = pos;
    if (decode_utf8(bytes, pos, codepoint)) {
      out.append(bytes.substr(start, pos - start));
    } else {
      out.append("\xEF\xBF\xBD");  // U+FFFD
      pos += invalid_sequence_length(bytes, pos);
    }
  }
  return out;
}

bool is_whitespace(uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

bool is_word_character(uint32_t c) {
  if (c == '_') return true;
  if (c < 0x80) return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
  // Letters and numbers by general category: close to Rust's Alphabetic ||
  // Numeric (which also counts a few combining marks as alphabetic).
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
      return true;
    default:
      return false;
  }
}

std::string normalize(std::string_view text, NormalForm form) {
  if (text.empty()) return std::string();
  int options = UTF8PROC_STABLE;
  switch (form) {
    case NormalForm::kNFC:
      options |= UTF8PROC_COMPOSE;
      break;
    case NormalForm::kNFD:
      options |= UTF8PROC_DECOMPOSE;
      break;
    case NormalForm::kNFKC:
      options |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT;
      break;
    case NormalForm::kNFKD:
      options |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT;
      break;
  }
  utf8proc_uint8_t* mapped = nullptr;
  const utf8proc_ssize_t length = utf8proc_map(
      reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
      static_cast<utf8proc_ssize_t>(text.size()), &mapped, static_cast<utf8proc_option_t>(options));
  SLMKIT_CHECK(length >= 0, "Unicode normalization failed: ", utf8proc_errmsg(length),
               " (the text must be valid UTF-8)");
  std::string out(reinterpret_cast<const char*>(mapped), static_cast<size_t>(length));
  std::free(mapped);
  return out;
}

std::string lowercase(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  uint32_t codepoint = 0;
  while (pos < text.size()) {
    const size_t start = pos;
    if (!decode_utf8(text, pos, codepoint)) {  // keep invalid bytes as they are
      out.push_back(text[start]);
      pos = start + 1;
      continue;
    }
    append_utf8(static_cast<uint32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(codepoint))),
                out);
  }
  return out;
}

}  // namespace slmkit::unicode
