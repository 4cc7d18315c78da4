// A compiled PCRE2 regular expression over UTF-8 text with Unicode properties
// (PCRE2_UTF | PCRE2_UCP: \p{L}, \p{N}, Unicode \s), JIT-compiled when the
// library supports it. Pre-tokenizer patterns of tokenizer.json (GPT-2,
// Llama-3, Qwen2) need \p{..}, negative lookahead (?!\S) and (?i:...), which
// std::regex and RE2 lack.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// Opaque PCRE2 types (pcre2.h needs PCRE2_CODE_UNIT_WIDTH before inclusion; keep
// that out of this header).
struct pcre2_real_code_8;

namespace slmkit {

class UnicodeRegex {
 public:
  // `literal` matches `pattern` as plain text (tokenizer.json's {"String": ...}).
  // `what` names the pattern's origin in errors ("tokenizer.json: pre_tokenizer").
  UnicodeRegex(const std::string& pattern, bool literal, const std::string& what);
  ~UnicodeRegex();
  UnicodeRegex(const UnicodeRegex&) = delete;
  UnicodeRegex& operator=(const UnicodeRegex&) = delete;

  // Byte ranges [begin, end) of the successive non-overlapping, non-empty
  // matches in `text`, which must be valid UTF-8 (callers validate once).
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view text) const;

  const std::string& pattern() const { return pattern_; }

 private:
  std::string pattern_;
  std::string what_;
  pcre2_real_code_8* code_ = nullptr;
  bool jit_ = false;
};

}  // namespace slmkit
