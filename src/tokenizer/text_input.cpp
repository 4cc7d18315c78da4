#include "tokenizer/text_input.h"

#include <algorithm>

#include "core/error.h"
#include "io/mapped_file.h"
#include "tokenizer/unicode_text.h"

namespace slmkit {
namespace {

// 1-based line number and 0-based column (bytes) of `offset`.
std::string position(std::string_view text, size_t offset) {
  const std::string_view before = text.substr(0, offset);
  const size_t line = 1 + static_cast<size_t>(std::count(before.begin(), before.end(), '\n'));
  const size_t line_start = before.rfind('\n');
  const size_t column = line_start == std::string_view::npos ? offset : offset - line_start - 1;
  return cat("line ", line, " byte ", column, " (file offset ", offset, ")");
}

}  // namespace

void check_text_input(std::string_view text, const std::string& what) {
  SLMKIT_CHECK(text.find_first_not_of(" \t\r\n\f\v") != std::string_view::npos, what,
               text.empty() ? " is empty" : " holds only whitespace",
               ": no text to tokenize (no calibration data); pass a text file with content");
  const size_t nul = text.find('\0');
  SLMKIT_CHECK(nul == std::string_view::npos, what, " looks binary: a NUL byte at ", position(text, nul),
               "; expected a UTF-8 text file");
  const size_t bad = unicode::find_invalid_utf8(text);
  SLMKIT_CHECK(bad == std::string::npos, what, ": invalid UTF-8 at ", position(text, bad),
               "; convert the file to UTF-8");
}

std::string read_text_input(const std::string& path, const std::string& role, const Limits& limits) {
  std::string text = read_text_file(path, limits.text_file_bytes);
  check_text_input(text, cat(role, " ", path));
  return text;
}

}  // namespace slmkit
