// The "pre_tokenizer" of a Hugging Face tokenizer.json: splits (normalized)
// text into pieces that BPE encodes independently. Supported: ByteLevel
// (add_prefix_space, use_regex with GPT-2's pattern), Split (Regex or String
// pattern, every SplitDelimiterBehavior, invert), Digits (individual_digits) and
// Sequence of those. Pieces stay raw UTF-8 bytes: the byte-level code point
// mapping is applied implicitly by the BPE model, which works on bytes.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokenizer/unicode_regex.h"

namespace slmkit {

// GPT-2's pre-tokenizer pattern, used by ByteLevel with use_regex.
extern const char* const kGpt2SplitPattern;

class PreTokenizer {
 public:
  // `spec` is the pre_tokenizer object (null: no splitting); `what` names the
  // file for errors.
  PreTokenizer(const nlohmann::json& spec, const std::string& what);
  ~PreTokenizer();

  // Splits valid UTF-8 `text` into non-empty pieces.
  std::vector<std::string> split(std::string_view text) const;

  // Whether a ByteLevel step is present (the tokenizer is byte-level BPE).
  bool has_byte_level() const { return has_byte_level_; }

  // Whether `spec` contains a ByteLevel step (without building anything).
  static bool contains_byte_level(const nlohmann::json& spec);

 private:
  enum class Behavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };
  struct Step {
    std::unique_ptr<UnicodeRegex> regex;  // null: the piece is kept whole
    Behavior behavior = Behavior::kIsolated;
    bool invert = false;
    bool add_prefix_space = false;  // ByteLevel: prepend ' ' unless the piece starts with one
  };

  void add_steps(const nlohmann::json& spec, const std::string& where);
  static void apply(const Step& step, const std::string& piece, std::vector<std::string>& out);

  std::vector<Step> steps_;
  bool has_byte_level_ = false;
};

}  // namespace slmkit
