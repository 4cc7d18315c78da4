// The "added_tokens" of a Hugging Face tokenizer.json (special tokens such as
// <|endoftext|> and extra user tokens). They are found in the raw text before
// normalization and pre-tokenization and cut it into segments, like HF's
// AddedVocabulary: leftmost-longest match, single_word, lstrip/rstrip.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

namespace slmkit {

struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool special = false;
  bool single_word = false;  // only matches when not inside a word
  bool lstrip = false;       // swallows whitespace on its left
  bool rstrip = false;       // swallows whitespace on its right
};

// A part of the input: text to tokenize normally (token_id == -1) or one added token.
struct TextSegment {
  size_t begin = 0, end = 0;  // byte range in the input
  int32_t token_id = -1;
};

class AddedTokens {
 public:
  AddedTokens() = default;
  // Parses the "added_tokens" array (null or absent: none); `what` names the file.
  AddedTokens(const nlohmann::json& spec, const std::string& what);

  // Cuts valid UTF-8 `text` into segments; whitespace taken by lstrip/rstrip
  // belongs to no segment.
  std::vector<TextSegment> split(std::string_view text) const;

  const std::vector<AddedToken>& tokens() const { return tokens_; }
  // The token with this id, or nullptr.
  const AddedToken* find_id(int32_t id) const;
  // The token with this content, or nullptr.
  const AddedToken* find_content(std::string_view content) const;

 private:
  std::vector<AddedToken> tokens_;
  // Token indices by first byte, longest content first (leftmost-longest match).
  std::vector<std::vector<size_t>> by_first_byte_ = std::vector<std::vector<size_t>>(256);
  std::unordered_map<int32_t, size_t> by_id_;
};

}  // namespace slmkit
