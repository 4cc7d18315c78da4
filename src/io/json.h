// JSON parsing with the strictness model files need: duplicate keys rejected
// (nlohmann keeps the last one silently), errors that name the file.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "core/limits.h"

namespace slmkit {

// Parses `text`; `what` names the source in error messages (a path, "header of X").
// Nesting deeper than limits.json_depth is refused while parsing (deep documents
// would overflow the stack of the recursive dump/compare code that follows).
nlohmann::json parse_json_strict(const std::string& text, const std::string& what,
                                 const Limits& limits = Limits{});

// Reads and parses a JSON file strictly; files over limits.side_file_bytes are refused unread.
nlohmann::json read_json_file(const std::string& path, const Limits& limits = Limits{});

}  // namespace slmkit
