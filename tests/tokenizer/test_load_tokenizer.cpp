// load_tokenizer(): format detection for directories and files, and its errors.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/error.h"
#include "io/mapped_file.h"
#include "sentencepiece_oracle.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer_test_util.h"

namespace slmkit {
namespace {

std::string error_of(const std::string& path) {
  try {
    load_tokenizer(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

void copy_file(const std::string& from, const std::string& to) {
  test::write_file(to, read_text_file(from));
}

TEST(LoadTokenizer, DirectoriesAndFilesByFormat) {
  // tokenizer.model may be served by any SentencePiece implementation; all
  // describe themselves as "sentencepiece ..." and must agree with libsentencepiece.
  const auto stories = load_tokenizer(test::data_path("models/stories260k"));
  EXPECT_TRUE(starts_with(stories->describe(), "sentencepiece")) << stories->describe();
  EXPECT_EQ(stories->vocab_size(), 512);
  const std::string text = "Once upon a time, Lily saw a big dog.\n\"Hi!\" she said.";
  EXPECT_EQ(stories->encode(text, true),
            test::SentencePieceOracle(test::data_path("models/stories260k/tokenizer.model"))
                .encode(text, true));
  EXPECT_TRUE(starts_with(load_tokenizer(test::data_path("tokenizers/gpt2"))->describe(),
                          "byte-level BPE (50257 tokens"));
  EXPECT_EQ(load_tokenizer(test::data_path("tokenizers/llama2/tokenizer.model"))->vocab_size(),
            32000);
  EXPECT_TRUE(
      starts_with(load_tokenizer(test::data_path("tokenizers/gpt2/tokenizer.json"))->describe(),
                  "byte-level BPE"));
  EXPECT_EQ(load_tokenizer(test::data_path("models/stories260k-llama2c/tok512.bin"))->describe(),
            "llama2.c tokenizer (512 pieces)");
}

TEST(LoadTokenizer, PrefersByteLevelTokenizerJson) {
  const std::string spm = test::data_path("models/stories260k/tokenizer.model");
  const std::string both = test::make_temp_dir();
  copy_file(spm, both + "/tokenizer.model");
  test::write_file(both + "/tokenizer.json",
                   test::tiny_tokenizer_json(test::hello_world_merges(), true).dump());
  EXPECT_TRUE(starts_with(load_tokenizer(both)->describe(), "byte-level BPE"));

  // A SentencePiece-style tokenizer.json (no ByteLevel) yields to tokenizer.model.
  nlohmann::json metaspace = test::tiny_tokenizer_json({}, true);
  metaspace["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}};
  const std::string spm_style = test::make_temp_dir();
  copy_file(spm, spm_style + "/tokenizer.model");
  test::write_file(spm_style + "/tokenizer.json", metaspace.dump());
  EXPECT_TRUE(starts_with(load_tokenizer(spm_style)->describe(), "sentencepiece"));

  const std::string json_only = test::make_temp_dir();
  test::write_file(json_only + "/tokenizer.json", metaspace.dump());
  EXPECT_EQ(error_of(json_only), "no tokenizer found in " + json_only +
                                     ": looked for tokenizer.json, tokenizer.model, tokenizer.bin (tokenizer.json "
                                     "is there but is not byte-level BPE); pass --tokenizer PATH");
}

TEST(LoadTokenizer, MissingOrUnknownGivesSpecificErrors) {
  const std::string empty = test::make_temp_dir();
  EXPECT_EQ(error_of(empty),
            "no tokenizer found in " + empty +
                ": looked for tokenizer.json, tokenizer.model, tokenizer.bin; pass --tokenizer PATH");
  const std::string missing = empty + "/no-such-model";
  EXPECT_TRUE(
      starts_with(error_of(missing), "no tokenizer found at " + missing + ": no such file"));

  const std::string odd = empty + "/vocab.txt";
  test::write_file(odd, "hello\n");
  EXPECT_NE(error_of(odd).find("cannot tell the tokenizer format"), std::string::npos);

  nlohmann::json wordpiece = test::tiny_tokenizer_json({}, true);
  wordpiece["model"]["type"] = "WordPiece";
  const std::string json_path = empty + "/tokenizer.json";
  test::write_file(json_path, wordpiece.dump());
  const std::string json_error = error_of(json_path);
  EXPECT_NE(json_error.find("unknown model type 'WordPiece' in " + json_path), std::string::npos)
      << json_error;

  const std::string garbage = empty + "/tokenizer.model";
  test::write_file(garbage, "this is not a protobuf");
  EXPECT_TRUE(starts_with(error_of(garbage), garbage + ": ")) << error_of(garbage);
}

}  // namespace
}  // namespace slmkit
