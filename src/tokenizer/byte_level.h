// GPT-2's byte <-> unicode map ("bytes_to_unicode"), used by every byte-level
// BPE tokenizer.json: each of the 256 bytes is shown as one printable code
// point so that vocabularies and merges can be stored as text. Printable
// Latin-1 bytes ('!'..'~', U+00A1..U+00AC, U+00AE..U+00FF) map to themselves;
// the other 68 bytes map, in increasing order, to U+0100, U+0101, ... (so space
// 0x20 -> U+0120 'Ġ' and newline 0x0A -> U+010A 'Ċ').
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace slmkit::byte_level {

// The code point that shows `byte`.
uint32_t byte_to_codepoint(uint8_t byte);

// The byte shown by `codepoint`, or -1 when it is not one of the 256 code points.
int codepoint_to_byte(uint32_t codepoint);

// Raw bytes -> UTF-8 text of their byte-level code points.
std::string encode(std::string_view bytes);

// Byte-level text -> raw bytes; nullopt when the text is not valid UTF-8 or has
// a code point outside the map (for example an added token such as "<|im_end|>"
// is plain ASCII and maps, but "▁" does not).
std::optional<std::string> decode(std::string_view text);

}  // namespace slmkit::byte_level
