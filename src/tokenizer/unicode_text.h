// UTF-8 helpers shared by the tokenizers: code point decoding/encoding,
// validation, lossy repair, Unicode whitespace and normalization forms.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace slmkit::unicode {

// Decodes the code point starting at text[pos] and advances pos past it.
// Returns false (pos unchanged) when the bytes there are not valid UTF-8
// (overlong forms, surrogates and values above U+10FFFF are invalid).
bool decode_utf8(std::string_view text, size_t& pos, uint32_t& codepoint);

// Appends the UTF-8 encoding of `codepoint` (must be a Unicode scalar value).
void append_utf8(uint32_t codepoint, std::string& out);

// Byte offset of the first invalid UTF-8 sequence in `text`, or npos.
size_t find_invalid_utf8(std::string_view text);

// Replaces every maximal invalid subsequence with U+FFFD, like Rust's
// String::from_utf8_lossy (which Hugging Face tokenizers use when decoding).
std::string repair_utf8(std::string_view bytes);

// Rust's char::is_whitespace (Unicode White_Space), which HF tokenizers use for
// lstrip/rstrip of added tokens.
bool is_whitespace(uint32_t codepoint);

// Rust's char::is_alphanumeric || '_' (HF's "word character" for single_word).
bool is_word_character(uint32_t codepoint);

enum class NormalForm { kNFC, kNFD, kNFKC, kNFKD };

// Unicode normalization of valid UTF-8 text (utf8proc).
std::string normalize(std::string_view text, NormalForm form);

// Full-text lowercase mapping per code point (HF's Lowercase normalizer).
std::string lowercase(std::string_view text);

}  // namespace slmkit::unicode
