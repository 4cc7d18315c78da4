// llama2.c's tokenizer.bin (tok512.bin) against SentencePiece on the same
// vocabulary (stories260k/tokenizer.model: identical pieces and scores).
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/error.h"
#include "io/mapped_file.h"
#include "sentencepiece_oracle.h"
#include "test_util.h"
#include "tokenizer/llama2c_tokenizer.h"

namespace slmkit {
namespace {

const std::string kTok512 = "models/stories260k-llama2c/tok512.bin";
const std::string kSpm512 = "models/stories260k/tokenizer.model";

size_t first_difference(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  return i;
}

void expect_same_as_sentencepiece(const std::string& text, const std::string& name) {
  const Llama2cTokenizer llama2c(test::data_path(kTok512));
  const test::SentencePieceOracle spm(test::data_path(kSpm512));
  const std::vector<int32_t> ours = llama2c.encode(text, true);
  const std::vector<int32_t> reference = spm.encode(text, true);
  const size_t diff = first_difference(ours, reference);
  EXPECT_EQ(ours, reference) << name << ": first difference at token " << diff << " of "
                             << ours.size() << "/" << reference.size();
  EXPECT_EQ(llama2c.decode(ours), text) << name;
}

// Whole files (1.1 MB and 1.3 MB): llama2.c's greedy best-score merging equals
// SentencePiece's BPE on them, byte fallback (WikiText has many characters
// outside the 512 pieces) and whitespace runs included.
TEST(Llama2cTokenizer, MatchesSentencePieceOnTinyShakespeare) {
  expect_same_as_sentencepiece(read_text_file(test::data_path("text/tinyshakespeare/input.txt")),
                               "tinyshakespeare");
}

TEST(Llama2cTokenizer, MatchesSentencePieceOnWikiText) {
  const std::string text = read_text_file(test::data_path("text/wikitext-2/wiki.test.raw"));
  expect_same_as_sentencepiece(text, "wikitext-2");
  // llama.cpp's perplexity tokenizes the raw file with BOS: 809,290 tokens (data README).
  EXPECT_EQ(Llama2cTokenizer(test::data_path(kTok512)).encode(text, true).size(), 809290u);
}

TEST(Llama2cTokenizer, ConventionsAndByteFallback) {
  const Llama2cTokenizer tokenizer(test::data_path(kTok512));
  EXPECT_EQ(tokenizer.vocab_size(), 512);
  EXPECT_EQ(tokenizer.bos_id(), 1);
  EXPECT_EQ(tokenizer.eos_id(), 2);
  EXPECT_TRUE(tokenizer.add_bos_by_default());
  EXPECT_EQ(tokenizer.describe(), "llama2.c tokenizer (512 pieces)");
  EXPECT_EQ(tokenizer.piece(3), "<0x00>");
  EXPECT_TRUE(tokenizer.encode("", false).empty());
  EXPECT_EQ(tokenizer.encode("", true), std::vector<int32_t>{1});
  // '世' (E4 B8 96) is not a piece: one id per byte, byte + 3, after the dummy prefix.
  const std::vector<int32_t> world = tokenizer.encode("\xE4\xB8\x96", false);
  ASSERT_EQ(world.size(), 4u);
  EXPECT_EQ(tokenizer.piece(world[0]), " ");
  EXPECT_EQ(std::vector<int32_t>(world.begin() + 1, world.end()),
            (std::vector<int32_t>{0xE4 + 3, 0xB8 + 3, 0x96 + 3}));
  EXPECT_EQ(tokenizer.decode(world), "\xE4\xB8\x96");
  // A lone byte piece is not UTF-8 by itself: decode repairs it to U+FFFD.
  EXPECT_EQ(tokenizer.decode({0xE4 + 3}), "\xEF\xBF\xBD");
  // After BOS (and at the start) the leading space of a piece is dropped; BOS/EOS vanish.
  const std::vector<int32_t> once = tokenizer.encode("Once upon a time", true);
  EXPECT_EQ(tokenizer.piece(once[1])[0], ' ');
  std::vector<int32_t> with_eos = once;
  with_eos.push_back(2);
  EXPECT_EQ(tokenizer.decode(with_eos), "Once upon a time");
  EXPECT_EQ(tokenizer.decode({once[1], once[1]}),
            tokenizer.piece(once[1]).substr(1) + tokenizer.piece(once[1]));
  EXPECT_THROW(tokenizer.decode({512}), Error);
}

// Writes `bytes` as tokenizer.bin in a fresh directory and expects loading to
// fail with a message containing `fragment`.
void expect_load_error(const std::string& bytes, const std::string& fragment) {
  const std::string path = test::make_temp_dir() + "/tokenizer.bin";
  std::ofstream(path, std::ios::binary) << bytes;
  try {
    Llama2cTokenizer tokenizer(path);
    ADD_FAILURE() << "loaded; expected an error containing: " << fragment;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

TEST(Llama2cTokenizer, MalformedFilesGiveSpecificErrors) {
  const std::string good = read_text_file(test::data_path(kTok512));
  expect_load_error(good.substr(0, 2), "too small");
  expect_load_error(good.substr(0, good.size() - 3), "truncated: token 511");
  expect_load_error(good.substr(0, 4 + 5), "truncated: token 0 at byte offset 4 needs 8 bytes");
  std::string bad_max = good;
  const int32_t zero = 0;
  bad_max.replace(0, 4, reinterpret_cast<const char*>(&zero), 4);
  expect_load_error(bad_max, "max_token_length is 0");
  // Token 0 ("<unk>") claims a length beyond max_token_length.
  std::string too_long = good;
  const int32_t huge = 1000;
  too_long.replace(8, 4, reinterpret_cast<const char*>(&huge), 4);
  expect_load_error(too_long, "token 0 has length 1000");
  // Rename the byte piece "<0x00>" (token 3).
  std::string bad_byte = good;
  const size_t at = bad_byte.find("<0x00>");
  ASSERT_NE(at, std::string::npos);
  bad_byte[at + 4] = '7';
  expect_load_error(bad_byte, "token 3 must be the byte piece <0x00>");
  // Only the first 100 tokens.
  size_t offset = 4;
  for (int i = 0; i < 100; ++i) {
    int32_t length = 0;
    std::memcpy(&length, good.data() + offset + 4, 4);
    offset += 8 + static_cast<size_t>(length);
  }
  expect_load_error(good.substr(0, offset),
                    "has 100 tokens; a llama2.c tokenizer needs at least 259");
}

}  // namespace
}  // namespace slmkit
