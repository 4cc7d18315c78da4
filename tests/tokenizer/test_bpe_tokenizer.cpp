// Byte-level BPE (tokenizer.json) on small hand-made files, plus GPT-2 on WikiText-2.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/error.h"
#include "io/mapped_file.h"
#include "test_util.h"
#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/byte_level.h"
#include "tokenizer_test_util.h"

namespace slmkit {
namespace {

using nlohmann::json;

// The id of a token given as raw bytes.
int32_t id_of(const BpeTokenizer& tokenizer, const std::string& bytes) {
  return tokenizer.token_id(byte_level::encode(bytes));
}

BpeTokenizer from_json(const json& tokenizer) {
  return BpeTokenizer(tokenizer, json(), "test tokenizer.json");
}

TEST(ByteLevelMap, KnownCodePointsAndRoundTrip) {
  EXPECT_EQ(byte_level::byte_to_codepoint(' '), 0x120u);   // 'Ġ'
  EXPECT_EQ(byte_level::byte_to_codepoint('\n'), 0x10Au);  // 'Ċ'
  EXPECT_EQ(byte_level::byte_to_codepoint('!'), static_cast<uint32_t>('!'));
  EXPECT_EQ(byte_level::byte_to_codepoint(0xAD), 0x143u);  // the last shifted byte
  EXPECT_EQ(byte_level::byte_to_codepoint(0xFF), 0xFFu);
  EXPECT_EQ(byte_level::encode(" \n"), "\xC4\xA0\xC4\x8A");  // "ĠĊ"
  std::string all_bytes;
  for (int byte = 0; byte < 256; ++byte) {
    EXPECT_EQ(byte_level::codepoint_to_byte(byte_level::byte_to_codepoint(byte)), byte);
    all_bytes.push_back(static_cast<char>(byte));
  }
  EXPECT_EQ(byte_level::decode(byte_level::encode(all_bytes)), all_bytes);
  EXPECT_FALSE(byte_level::decode("\xE2\x96\x81").has_value());  // '▁' is not in the map
}

TEST(BpeTokenizer, BothMergeFormatsGiveTheSameIds) {
  const auto merges = test::hello_world_merges();
  const BpeTokenizer strings = from_json(test::tiny_tokenizer_json(merges, false));
  const BpeTokenizer pairs = from_json(test::tiny_tokenizer_json(merges, true));
  const std::string text = "hello world, hello\nworld";
  const std::vector<int32_t> ids = strings.encode(text, false);
  EXPECT_EQ(ids, pairs.encode(text, false));
  EXPECT_EQ(ids, (std::vector<int32_t>{id_of(strings, "hello"), id_of(strings, " world"), ',',
                                       id_of(strings, " "), id_of(strings, "hello"), '\n',
                                       id_of(strings, "world")}));
  EXPECT_EQ(strings.decode(ids), text);
  EXPECT_EQ(strings.describe(), "byte-level BPE (267 tokens, 11 merges)");
}

TEST(BpeTokenizer, LowestRankFirstLeftmostOnTies) {
  // "l l" beats "ll o"'s prerequisite order; in "lll" the left pair merges first.
  const BpeTokenizer tokenizer = from_json(test::tiny_tokenizer_json({{"l", "l"}}, false));
  EXPECT_EQ(tokenizer.encode("lll", false), (std::vector<int32_t>{id_of(tokenizer, "ll"), 'l'}));
  // With "a b" ranked before "b c", "abc" becomes [ab, c], not [a, bc].
  const BpeTokenizer ranked = from_json(test::tiny_tokenizer_json({{"a", "b"}, {"b", "c"}}, true));
  EXPECT_EQ(ranked.encode("abc", false), (std::vector<int32_t>{id_of(ranked, "ab"), 'c'}));
  const BpeTokenizer reversed =
      from_json(test::tiny_tokenizer_json({{"b", "c"}, {"a", "b"}}, true));
  EXPECT_EQ(reversed.encode("abc", false), (std::vector<int32_t>{'a', id_of(reversed, "bc")}));
}

TEST(BpeTokenizer, IgnoreMergesLooksUpWholePreTokens) {
  json spec = test::tiny_tokenizer_json({{"h", "e"}, {"l", "l"}, {"he", "ll"}}, true);
  spec["model"]["vocab"]["hello"] = 300;  // reachable only by a whole-word lookup
  EXPECT_EQ(from_json(spec).encode("hello", false),
            (std::vector<int32_t>{id_of(from_json(spec), "hell"), 'o'}));
  spec["model"]["ignore_merges"] = true;
  EXPECT_EQ(from_json(spec).encode("hello", false), std::vector<int32_t>{300});
}

TEST(BpeTokenizer, SpecialTokensSplitTextAndAreSkippedInDecode) {
  json spec = test::tiny_tokenizer_json(test::hello_world_merges(), false);
  spec["added_tokens"] = json::array(
      {{{"id", 500},
        {"content", "<|endoftext|>"},
        {"special", true},
        {"single_word", false},
        {"lstrip", false},
        {"rstrip", false},
        {"normalized", false}},
       {{"id", 501}, {"content", "<sep>"}, {"special", true}, {"lstrip", true}, {"rstrip", true}},
       {{"id", 502}, {"content", "<sep>>"}, {"special", false}},
       {{"id", 503}, {"content", "wo"}, {"special", false}, {"single_word", true}}});
  const BpeTokenizer tokenizer = from_json(spec);
  const int32_t hello = id_of(tokenizer, "hello"), world = id_of(tokenizer, "world");
  EXPECT_EQ(tokenizer.vocab_size(), 504);
  EXPECT_EQ(tokenizer.eos_id(), 500);  // the end-of-text special token
  EXPECT_EQ(tokenizer.bos_id(), -1);
  EXPECT_FALSE(tokenizer.add_bos_by_default());
  EXPECT_EQ(tokenizer.encode("hello<|endoftext|> world", false),
            (std::vector<int32_t>{hello, 500, id_of(tokenizer, " world")}));
  // lstrip/rstrip swallow the spaces around "<sep>".
  EXPECT_EQ(tokenizer.encode("hello  <sep> \tworld", false),
            (std::vector<int32_t>{hello, 501, world}));
  // Leftmost-longest: "<sep>>" wins over "<sep>"; non-special added tokens decode as text.
  const std::vector<int32_t> longest = tokenizer.encode("hello<sep>>", false);
  EXPECT_EQ(longest, (std::vector<int32_t>{hello, 502}));
  EXPECT_EQ(tokenizer.decode(longest), "hello<sep>>");
  // single_word: "wo" alone is the added token, inside "world" it is not.
  EXPECT_EQ(tokenizer.encode("wo world", false),
            (std::vector<int32_t>{503, id_of(tokenizer, " world")}));
  EXPECT_EQ(tokenizer.decode({hello, 500, world, 501}), "helloworld");
}

TEST(BpeTokenizer, TemplateProcessingGivesBos) {
  json spec = test::tiny_tokenizer_json(test::hello_world_merges(), true);
  spec["added_tokens"] =
      json::array({{{"id", 400}, {"content", "<|begin_of_text|>"}, {"special", true}},
                   {{"id", 401}, {"content", "<|end_of_text|>"}, {"special", true}}});
  spec["post_processor"] = {
      {"type", "Sequence"},
      {"processors",
       json::array({{{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false}},
                    {{"type", "TemplateProcessing"},
                     {"single", json::array({{{"SpecialToken",
                                               {{"id", "<|begin_of_text|>"}, {"type_id", 0}}}},
                                             {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
                     {"pair", json::array()},
                     {"special_tokens",
                      {{"<|begin_of_text|>",
                        {{"id", "<|begin_of_text|>"},
                         {"ids", {400}},
                         {"tokens", {"<|begin_of_text|>"}}}}}}}})}};
  const BpeTokenizer tokenizer = from_json(spec);
  EXPECT_TRUE(tokenizer.add_bos_by_default());
  EXPECT_EQ(tokenizer.bos_id(), 400);
  EXPECT_EQ(tokenizer.eos_id(), 401);
  EXPECT_EQ(tokenizer.encode("hello", true),
            (std::vector<int32_t>{400, id_of(tokenizer, "hello")}));
  EXPECT_EQ(tokenizer.encode("hello", false), (std::vector<int32_t>{id_of(tokenizer, "hello")}));
  EXPECT_EQ(tokenizer.decode(tokenizer.encode("hello", true)), "hello");
}

TEST(BpeTokenizer, TokenizerConfigBesideTheFileNamesEos) {
  const std::string dir = test::make_temp_dir();
  ASSERT_FALSE(dir.empty());
  json spec = test::tiny_tokenizer_json(test::hello_world_merges(), true);
  spec["added_tokens"] =
      json::array({{{"id", 400}, {"content", "<|im_end|>"}, {"special", true}},
                   {{"id", 401}, {"content", "<|endoftext|>"}, {"special", true}}});
  test::write_file(dir + "/tokenizer.json", spec.dump());
  test::write_file(dir + "/tokenizer_config.json",
                   R"({"eos_token": {"content": "<|im_end|>"}, "bos_token": null})");
  const BpeTokenizer tokenizer(dir + "/tokenizer.json");
  EXPECT_EQ(tokenizer.eos_id(), 400);
  EXPECT_EQ(tokenizer.bos_id(), -1);
}

TEST(BpeTokenizer, NfcNormalizerComposesCharacters) {
  json spec = test::tiny_tokenizer_json({}, true);
  const std::string composed = "caf\xC3\xA9", decomposed = "cafe\xCC\x81";
  EXPECT_NE(from_json(spec).encode(composed, false), from_json(spec).encode(decomposed, false));
  spec["normalizer"] = {{"type", "Sequence"}, {"normalizers", json::array({{{"type", "NFC"}}})}};
  EXPECT_EQ(from_json(spec).encode(composed, false), from_json(spec).encode(decomposed, false));
}

TEST(BpeTokenizer, DecodeRepairsSplitCharacters) {
  const BpeTokenizer tokenizer = from_json(test::tiny_tokenizer_json({}, true));
  // The first byte of '€' (E2 82 AC) alone is not UTF-8: HF decodes it as U+FFFD.
  EXPECT_EQ(tokenizer.decode({'a', 0xE2, 'b'}),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(tokenizer.decode({0xE2, 0x82, 0xAC}), "\xE2\x82\xAC");
}

TEST(BpeTokenizer, BadInputsGiveSpecificErrors) {
  const BpeTokenizer tokenizer = from_json(test::tiny_tokenizer_json({}, true));
  try {
    tokenizer.encode("ok \xFF", false);
    FAIL() << "invalid UTF-8 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("invalid UTF-8 at byte 3"), std::string::npos) << e.what();
  }
  EXPECT_THROW(tokenizer.decode({256}), Error);  // no such id
  EXPECT_THROW(tokenizer.decode({-1}), Error);
}

TEST(BpeTokenizer, BadFilesGiveSpecificErrors) {
  const auto expect_error = [](const json& spec, const std::string& fragment) {
    try {
      from_json(spec);
      ADD_FAILURE() << "no error; expected one containing: " << fragment;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  json spec = test::tiny_tokenizer_json({{"a", "b"}}, false);
  json bad = spec;
  bad["model"]["type"] = "WordPiece";
  expect_error(bad, "unknown model type 'WordPiece'");
  bad = spec;
  bad["model"]["merges"] = json::array({"a b c"});
  expect_error(bad, "exactly one space");
  bad = spec;
  bad["model"]["merges"] = json::array({"a z"});
  bad["model"]["vocab"].erase("z");
  expect_error(bad, "missing from model.vocab ('z')");
  bad = spec;
  bad["pre_tokenizer"] = {{"type", "Metaspace"}};
  expect_error(bad, "unsupported pre-tokenizer type 'Metaspace'");
  bad = spec;
  bad["pre_tokenizer"] = {
      {"type", "Split"}, {"pattern", {{"String", " "}}}, {"behavior", "Isolated"}};
  expect_error(bad, "no ByteLevel step");
  bad = spec;
  bad["normalizer"] = {{"type", "Precompiled"}};
  expect_error(bad, "unsupported normalizer type 'Precompiled'");
  bad = spec;
  bad["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers",
       json::array(
           {{{"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}},
            {{"type", "ByteLevel"}}})}};
  expect_error(bad, "cannot compile regex '(unclosed'");
}

// The GPT-2 tokenizer.json has the older layout without model.type.
TEST(BpeTokenizer, Gpt2OnWikiTextMatchesHuggingFaceCount) {
  const BpeTokenizer gpt2(test::data_path("tokenizers/gpt2/tokenizer.json"));
  EXPECT_EQ(gpt2.vocab_size(), 50257);
  EXPECT_EQ(gpt2.eos_id(), 50256);
  EXPECT_EQ(gpt2.bos_id(), -1);
  EXPECT_FALSE(gpt2.add_bos_by_default());
  const std::string raw = read_text_file(test::data_path("text/wikitext-2/wiki.test.raw"));
  const std::vector<int32_t> raw_ids = gpt2.encode(raw, false);
  EXPECT_EQ(gpt2.decode(raw_ids), raw);
  // The text of HF's wikitext-2-raw-v1 test split joined with "\n\n" (each
  // non-blank line keeps its "\n"; blank " \n" lines are empty strings) is
  // 287,644 GPT-2 tokens, the count in HF's perplexity guide.
  std::string joined;
  size_t lines = 0;
  for (size_t pos = 0; pos < raw.size(); ++lines) {
    const size_t end = raw.find('\n', pos);
    std::string line = raw.substr(pos, end - pos + 1);
    pos = end + 1;
    if (lines > 0) joined += "\n\n";
    if (line != " \n") joined += line;
  }
  EXPECT_EQ(lines, 4358u);
  EXPECT_EQ(gpt2.encode(joined, false).size(), 287644u);
}

}  // namespace
}  // namespace slmkit
