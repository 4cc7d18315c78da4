// Our SentencePiece BPE (SpmTokenizer) against libsentencepiece (the oracle) on
// the real models: identical ids and identical decoded text on whole corpora,
// on awkward strings and on seeded random inputs, for Llama-2's 32000 pieces
// and stories260k's 512 (which leans on byte fallback for most non-ASCII text).
#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/error.h"
#include "io/mapped_file.h"
#include "spm_parity.h"
#include "test_util.h"
#include "tokenizer/spm_tokenizer.h"

namespace slmkit {
namespace {

const std::string kLlama2 = "tokenizers/llama2/tokenizer.model";
const std::string kStories = "models/stories260k/tokenizer.model";

// Loaded once per model: the 32000-piece model is used by many tests.
const test::SpmPair& tokenizers(const std::string& model) {
  static std::map<std::string, std::unique_ptr<test::SpmPair>> cache;
  auto& slot = cache[model];
  if (!slot) slot = std::make_unique<test::SpmPair>(test::data_path(model));
  return *slot;
}

void expect_file_parity(const std::string& model, const std::string& file) {
  test::expect_parity(tokenizers(model), read_text_file(test::data_path(file)), file + " with " + model);
}

TEST(SpmTokenizer, MatchesOracleOnTinyShakespeare) {
  expect_file_parity(kLlama2, "text/tinyshakespeare/input.txt");
  expect_file_parity(kStories, "text/tinyshakespeare/input.txt");
}

TEST(SpmTokenizer, MatchesOracleOnWikiText) {
  expect_file_parity(kLlama2, "text/wikitext-2/wiki.test.raw");
  expect_file_parity(kStories, "text/wikitext-2/wiki.test.raw");
}

TEST(SpmTokenizer, WikiTextTokenCountMatchesLlamaCpp) {
  // llama.cpp's llama-perplexity on stories260k: 809,290 tokens (data README).
  const std::string text = read_text_file(test::data_path("text/wikitext-2/wiki.test.raw"));
  EXPECT_EQ(tokenizers(kStories).ours.encode(text, true).size(), 809290u);
}

TEST(SpmTokenizer, MatchesOracleOnAwkwardStrings) {
  test::expect_parity_on_awkward_strings(tokenizers(kLlama2), kLlama2, 400);
  test::expect_parity_on_awkward_strings(tokenizers(kStories), kStories, 400);
}

TEST(SpmTokenizer, DecodeMatchesOracleOnRandomIds) {
  test::expect_decode_parity_on_random_ids(tokenizers(kLlama2), kLlama2, 3000);
  test::expect_decode_parity_on_random_ids(tokenizers(kStories), kStories, 3000);
}

// Decoding rules checked by hand (the random test finds them, this names them).
TEST(SpmTokenizer, DecodeRules) {
  const SpmTokenizer& llama = tokenizers(kLlama2).ours;
  // Only the first non-control piece loses its "▁" (29871 is "▁", 263 "▁a").
  EXPECT_EQ(llama.decode({1, 29871, 263}), " a");
  EXPECT_EQ(llama.decode({1, 1, 263, 263}), "a a");
  // <unk> (id 0) and byte pieces count as that first piece.
  EXPECT_EQ(llama.decode({0, 263}), " \xE2\x81\x87  a");
  EXPECT_EQ(llama.decode({3 + 'A', 263}), "A a");
  // Bytes form UTF-8 across pieces; each stray byte becomes U+FFFD, and a
  // control piece in between ends the run.
  EXPECT_EQ(llama.decode({3 + 0xE4, 3 + 0xB8, 3 + 0x96}), "\xE4\xB8\x96");
  EXPECT_EQ(llama.decode({3 + 0xE4, 3 + 0xB8, 2, 3 + 0x96}),
            "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  // stories260k's file says <unk> reads " \342\201\207 " (backslashes and all).
  EXPECT_EQ(tokenizers(kStories).ours.decode({0}), " \\342\\201\\207 ");
}

TEST(SpmTokenizer, Llama2Conventions) {
  const SpmTokenizer& tokenizer = tokenizers(kLlama2).ours;
  EXPECT_EQ(tokenizer.vocab_size(), 32000);
  EXPECT_EQ(tokenizer.bos_id(), 1);
  EXPECT_EQ(tokenizer.eos_id(), 2);
  EXPECT_TRUE(tokenizer.add_bos_by_default());
  EXPECT_EQ(tokenizer.encode("Hello world", true), (std::vector<int32_t>{1, 15043, 3186}));
  EXPECT_EQ(tokenizer.encode("Hello world", false), (std::vector<int32_t>{15043, 3186}));
  EXPECT_EQ(tokenizer.decode({1, 15043, 3186, 2}), "Hello world");  // control tokens skipped
  EXPECT_EQ(tokenizer.describe(), "sentencepiece bpe, 32000 pieces");
  EXPECT_TRUE(tokenizer.encode("", false).empty());
  EXPECT_EQ(tokenizer.encode("", true), std::vector<int32_t>{1});
  // Bad UTF-8: each bad byte is U+FFFD, which Llama-2 has as a piece (30140).
  EXPECT_EQ(tokenizer.encode("a\x80" "b", false), (std::vector<int32_t>{263, 30140, 29890}));
  const std::string path = test::data_path(kLlama2);
  try {
    tokenizer.decode({15043, 32000});
    ADD_FAILURE() << "decoded an id outside the vocabulary";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "cannot decode token id 32000: outside [0, 32000) of " + path);
  }
  EXPECT_THROW(tokenizer.decode({-1}), Error);
}

// Encoding 1.3 MB must take seconds at most. Both are timed in the same run,
// so a busy machine slows them alike; the numbers are printed for the record.
TEST(SpmTokenizer, EncodesWikiTextQuickly) {
  const std::string text = read_text_file(test::data_path("text/wikitext-2/wiki.test.raw"));
  const test::SpmPair& t = tokenizers(kLlama2);
  auto seconds = [&](const Tokenizer& tokenizer) {
    const auto start = std::chrono::steady_clock::now();
    EXPECT_GT(tokenizer.encode(text, true).size(), 0u);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  const double ours = seconds(t.ours), oracle = seconds(t.oracle);
  std::cout << "wiki.test.raw (" << text.size() << " bytes), 32000 pieces: ours " << ours
            << " s, libsentencepiece " << oracle << " s\n";
  EXPECT_LT(ours, 5.0);
  EXPECT_LT(ours, 3.0 * oracle + 0.5);
}

}  // namespace
}  // namespace slmkit
