// Helpers for the tokenizer tests: small hand-made tokenizer.json files.
#pragma once

#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokenizer/byte_level.h"

namespace slmkit::test {

inline void write_file(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
}

// A byte-level BPE tokenizer.json: ids 0..255 are the single bytes (in byte
// order), then one id per merge result in merge order. `merges` are pairs of
// raw-byte strings; `pairs_format` writes them as ["a", "b"] instead of "a b".
inline nlohmann::json tiny_tokenizer_json(
    const std::vector<std::pair<std::string, std::string>>& merges, bool pairs_format) {
  nlohmann::json vocab = nlohmann::json::object();
  for (int byte = 0; byte < 256; ++byte) {
    vocab[byte_level::encode(std::string(1, static_cast<char>(byte)))] = byte;
  }
  nlohmann::json merge_list = nlohmann::json::array();
  for (const auto& [left, right] : merges) {
    const std::string a = byte_level::encode(left), b = byte_level::encode(right);
    if (!vocab.contains(a + b)) {
      const int id = static_cast<int>(vocab.size());
      vocab[a + b] = id;
    }
    if (pairs_format) {
      merge_list.push_back(nlohmann::json::array({a, b}));
    } else {
      merge_list.push_back(a + " " + b);
    }
  }
  return {
      {"version", "1.0"},
      {"added_tokens", nlohmann::json::array()},
      {"normalizer", nullptr},
      {"pre_tokenizer",
       {{"type", "ByteLevel"},
        {"add_prefix_space", false},
        {"trim_offsets", true},
        {"use_regex", true}}},
      {"post_processor", nullptr},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", nullptr},
        {"continuing_subword_prefix", nullptr},
        {"end_of_word_suffix", nullptr},
        {"fuse_unk", false},
        {"byte_fallback", false},
        {"ignore_merges", false},
        {"vocab", vocab},
        {"merges", merge_list}}},
  };
}

// Merges that build "hello", " world" and "world".
inline std::vector<std::pair<std::string, std::string>> hello_world_merges() {
  return {{"h", "e"},   {"l", "l"}, {"ll", "o"},    {"he", "llo"}, {"o", "r"},   {" ", "w"},
          {" w", "or"}, {"l", "d"}, {" wor", "ld"}, {"w", "or"},   {"wor", "ld"}};
}

}  // namespace slmkit::test
