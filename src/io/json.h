// JSON parsing with the strictness model files need: duplicate keys rejected
// (nlohmann keeps the last one silently), errors that name the file.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace slmkit {

// Parses `text`; `what` names the source in error messages (a path, "header of X").
nlohmann::json parse_json_strict(const std::string& text, const std::string& what);

// Reads and parses a JSON file strictly.
nlohmann::json read_json_file(const std::string& path);

}  // namespace slmkit
