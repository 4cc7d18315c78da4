// Pre-tokenizers of tokenizer.json: the regexes of GPT-2, Llama-3 and Qwen2
// (through PCRE2), Split behaviors and Digits.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/error.h"
#include "tokenizer/pre_tokenizer.h"

namespace slmkit {
namespace {

using nlohmann::json;
using Pieces = std::vector<std::string>;

// As in Llama-3's tokenizer.json.
const char* const kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3})"
    R"(| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// As in Qwen2's tokenizer.json: single digits.
const char* const kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N})"
    R"(| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

json split_then_byte_level(const std::string& pattern) {
  return {{"type", "Sequence"},
          {"pretokenizers", json::array({{{"type", "Split"},
                                          {"pattern", {{"Regex", pattern}}},
                                          {"behavior", "Isolated"},
                                          {"invert", false}},
                                         {{"type", "ByteLevel"},
                                          {"add_prefix_space", false},
                                          {"trim_offsets", true},
                                          {"use_regex", false}}})}};
}

Pieces split(const json& spec, const std::string& text) {
  return PreTokenizer(spec, "test").split(text);
}

TEST(PreTokenizer, Gpt2ByteLevelRegex) {
  const json spec = {{"type", "ByteLevel"}, {"add_prefix_space", false}};  // no use_regex: true
  EXPECT_EQ(
      split(spec, "Hello, y'all!  It's 2024\n\n  ok"),
      (Pieces{"Hello", ",", " y", "'", "all", "!", " ", " It", "'s", " 2024", "\n\n ", " ok"}));
  EXPECT_EQ(split(spec, "h\xC3\xA9llo \xE4\xB8\x96\xE7\x95\x8C"),  // "héllo 世界"
            (Pieces{"h\xC3\xA9llo", " \xE4\xB8\x96\xE7\x95\x8C"}));
  EXPECT_EQ(split(spec, "   "), (Pieces{"   "}));
}

TEST(PreTokenizer, ByteLevelAddPrefixSpace) {
  const json spec = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", false}};
  EXPECT_EQ(split(spec, "hello world"), (Pieces{" hello world"}));
  EXPECT_EQ(split(spec, " hello"), (Pieces{" hello"}));
}

TEST(PreTokenizer, Llama3Regex) {
  EXPECT_EQ(split(split_then_byte_level(kLlama3Pattern), "I'VE 12345 hello\n\n  world"),
            (Pieces{"I", "'VE", " ", "123", "45", " hello", "\n\n", " ", " world"}));
  EXPECT_EQ(split(split_then_byte_level(kLlama3Pattern), "x=1;\r\n  y"),
            (Pieces{"x", "=", "1", ";\r\n", " ", " y"}));
}

TEST(PreTokenizer, Qwen2RegexSplitsDigits) {
  EXPECT_EQ(split(split_then_byte_level(kQwen2Pattern), "in 2024"),
            (Pieces{"in", " ", "2", "0", "2", "4"}));
}

TEST(PreTokenizer, SplitBehaviors) {
  const auto with = [](const std::string& behavior) {
    return json{{"type", "Sequence"},
                {"pretokenizers", json::array({{{"type", "Split"},
                                                {"pattern", {{"String", "-"}}},
                                                {"behavior", behavior},
                                                {"invert", false}}})}};
  };
  const std::string text = "the-final--countdown";
  EXPECT_EQ(split(with("Removed"), text), (Pieces{"the", "final", "countdown"}));
  EXPECT_EQ(split(with("Isolated"), text), (Pieces{"the", "-", "final", "-", "-", "countdown"}));
  EXPECT_EQ(split(with("MergedWithPrevious"), text), (Pieces{"the-", "final-", "-", "countdown"}));
  EXPECT_EQ(split(with("MergedWithNext"), text), (Pieces{"the", "-final", "-", "-countdown"}));
  EXPECT_EQ(split(with("Contiguous"), text), (Pieces{"the", "-", "final", "--", "countdown"}));
  json inverted = with("Removed");
  inverted["pretokenizers"][0]["invert"] = true;              // the pattern names what to keep
  EXPECT_EQ(split(inverted, text), (Pieces{"-", "-", "-"}));  // each match is kept alone
}

TEST(PreTokenizer, DigitsThenByteLevel) {  // SmolLM's pre-tokenizer
  const json spec = {
      {"type", "Sequence"},
      {"pretokenizers",
       json::array({{{"type", "Digits"}, {"individual_digits", true}},
                    {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}})}};
  EXPECT_EQ(split(spec, "abc 123"), (Pieces{"abc", " ", "1", "2", "3"}));
  json grouped = spec;
  grouped["pretokenizers"][0]["individual_digits"] = false;
  EXPECT_EQ(split(grouped, "abc 123"), (Pieces{"abc", " ", "123"}));
}

TEST(PreTokenizer, LongWhitespaceRunsDoNotFail) {
  const json spec = {{"type", "ByteLevel"}, {"add_prefix_space", false}};
  const std::string spaces(200000, ' ');
  EXPECT_EQ(split(spec, spaces + "x"), (Pieces{spaces.substr(1), " x"}));
}

TEST(PreTokenizer, UnknownBehaviorIsAnError) {
  const json spec = {{"type", "Split"}, {"pattern", {{"String", "-"}}}, {"behavior", "Sideways"}};
  EXPECT_THROW(split(spec, "a-b"), Error);
}

}  // namespace
}  // namespace slmkit
