#include "tokenizer/byte_level.h"

#include <array>

#include "tokenizer/unicode_text.h"

namespace slmkit::byte_level {
namespace {

bool shows_itself(int byte) {
  return (byte >= '!' && byte <= '~') || (byte >= 0xA1 && byte <= 0xAC) ||
         (byte >= 0xAE && byte <= 0xFF);
}

struct ByteMap {
  std::array<uint32_t, 256> to_codepoint{};
  std::array<int16_t, 0x144> to_byte{};  // all mapped code points are below U+0144

  ByteMap() {
    to_byte.fill(-1);
    uint32_t next_shifted = 0x100;
    for (int byte = 0; byte < 256; ++byte) {
      const uint32_t codepoint = shows_itself(byte) ? static_cast<uint32_t>(byte) : next_shifted++;
      to_codepoint[byte] = codepoint;
      to_byte[codepoint] = static_cast<int16_t>(byte);
    }
  }
};

const ByteMap& byte_map() {
  static const ByteMap map;
  return map;
}

}  // namespace

uint32_t byte_to_codepoint(uint8_t byte) { return byte_map().to_codepoint[byte]; }

int codepoint_to_byte(uint32_t codepoint) {
  const ByteMap& map = byte_map();
  return codepoint < map.to_byte.size() ? map.to_byte[codepoint] : -1;
}

std::string encode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char c : bytes) unicode::append_utf8(byte_to_codepoint(static_cast<uint8_t>(c)), out);
  return out;
}

std::optional<std::string> decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  uint32_t codepoint = 0;
  while (pos < text.size()) {
    if (!unicode::decode_utf8(text, pos, codepoint)) return std::nullopt;
    const int byte = codepoint_to_byte(codepoint);
    if (byte < 0) return std::nullopt;
    out.push_back(static_cast<char>(byte));
  }
  return out;
}

}  // namespace slmkit::byte_level
