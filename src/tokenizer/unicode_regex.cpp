#include "tokenizer/unicode_regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <memory>

#include "core/error.h"

namespace slmkit {
namespace {

std::string pcre2_message(int code) {
  PCRE2_UCHAR buffer[256];
  if (pcre2_get_error_message(code, buffer, sizeof(buffer)) < 0) return cat("PCRE2 error ", code);
  return std::string(reinterpret_cast<const char*>(buffer));
}

struct MatchDataDeleter {
  void operator()(pcre2_match_data* data) const { pcre2_match_data_free(data); }
};

}  // namespace

UnicodeRegex::UnicodeRegex(const std::string& pattern, bool literal, const std::string& what)
    : pattern_(pattern), what_(what) {
  // PCRE2_UCP is not allowed together with PCRE2_LITERAL (and not needed there).
  const uint32_t options = literal ? PCRE2_UTF | PCRE2_LITERAL : PCRE2_UTF | PCRE2_UCP;
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options,
                        &error_code, &error_offset, nullptr);
  SLMKIT_CHECK(code_ != nullptr, what, ": cannot compile regex '", pattern, "' at offset ",
               error_offset, ": ", pcre2_message(error_code));
  // JIT is an optimization only: fall back to the interpreter when unavailable.
  jit_ = pcre2_jit_compile(code_, PCRE2_JIT_COMPLETE) == 0;
}

UnicodeRegex::~UnicodeRegex() { pcre2_code_free(code_); }

std::vector<std::pair<size_t, size_t>> UnicodeRegex::find_all(std::string_view text) const {
  std::vector<std::pair<size_t, size_t>> spans;
  std::unique_ptr<pcre2_match_data, MatchDataDeleter> data(
      pcre2_match_data_create_from_pattern(code_, nullptr));
  SLMKIT_CHECK(data != nullptr, what_, ": out of memory for regex match data");
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t offset = 0;
  while (offset < text.size()) {
    // The text was validated once by the caller; re-checking per match would be
    // quadratic.
    int rc =
        pcre2_match(code_, subject, text.size(), offset, PCRE2_NO_UTF_CHECK, data.get(), nullptr);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT && jit_) {
      // Long whitespace runs with (?!\S) can exhaust the default 32 KiB JIT
      // stack; the interpreter uses the heap instead.
      rc = pcre2_match(code_, subject, text.size(), offset, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT,
                       data.get(), nullptr);
    }
    if (rc == PCRE2_ERROR_NOMATCH) break;
    SLMKIT_CHECK(rc >= 0, what_, ": regex '", pattern_, "' failed at byte ", offset, ": ",
                 pcre2_message(rc));
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data.get());
    const size_t begin = ovector[0], end = ovector[1];
    if (end > begin) {
      spans.emplace_back(begin, end);
      offset = end;
    } else {
      // Empty match: step over one code point so the scan always progresses.
      offset = begin + 1;
      while (offset < text.size() && (static_cast<uint8_t>(text[offset]) & 0xC0) == 0x80) ++offset;
    }
  }
  return spans;
}

}  // namespace slmkit
