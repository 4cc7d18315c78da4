// Text that is tokenized as data (calibration text, perplexity text): read whole
// and checked to be text before any work starts, so a wrong path (a binary file,
// an empty file, a truncated UTF-8 download) is refused with its position
// instead of silently calibrating on garbage (reliability.md §6.2).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/limits.h"

namespace slmkit {

// Throws Error naming `what` (e.g. "calibration text /x/y.txt") when `text` is
// empty or whitespace only, holds a NUL byte (binary), or is not valid UTF-8; the
// message gives the 1-based line and the byte offset.
void check_text_input(std::string_view text, const std::string& what);

// Reads `path` (at most limits.text_file_bytes) and checks it with check_text_input.
// `role` names the input in messages ("calibration text").
std::string read_text_input(const std::string& path, const std::string& role, const Limits& limits = Limits{});

}  // namespace slmkit
