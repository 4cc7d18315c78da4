// Tokenizers from GGUF vocabularies: llama.cpp's own vocab files reproduce its
// test vectors, and a vocabulary written by the GGUF exporter tokenizes exactly as
// the tokenizer file it came from (so `slmkit eval model.gguf` sees the same ids).
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "io/gguf.h"
#include "io/json.h"
#include "io/mapped_file.h"
#include "test_util.h"
#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/gguf_tokenizer.h"
#include "tokenizer/gguf_vocab.h"
#include "tokenizer/spm_tokenizer.h"

namespace slmkit {
namespace {

// <vocab>.inp inputs (each followed by "\n__ggml_vocab_test__\n") and the ids of
// the matching line of <vocab>.out.
std::vector<std::pair<std::string, std::vector<int32_t>>> vectors_of(const std::string& vocab) {
  const std::string base = test::data_path("tokenizers/llamacpp-vectors/" + vocab);
  const std::string inputs = read_text_file(base + ".inp");
  const std::string separator = "\n__ggml_vocab_test__\n";
  std::vector<std::pair<std::string, std::vector<int32_t>>> out;
  for (size_t pos = 0, end; (end = inputs.find(separator, pos)) != std::string::npos; pos = end + separator.size())
    out.push_back({inputs.substr(pos, end - pos), {}});
  std::istringstream lines(read_text_file(base + ".out"));
  std::string line;
  for (size_t i = 0; std::getline(lines, line) && i < out.size(); ++i) {
    std::istringstream ids(line);
    for (int32_t id = 0; ids >> id;) out[i].second.push_back(id);
  }
  return out;
}

void expect_vectors(const std::string& vocab) {
  const auto tokenizer = load_gguf_tokenizer(test::data_path("tokenizers/llamacpp-vectors/" + vocab));
  const auto vectors = vectors_of(vocab);
  ASSERT_EQ(vectors.size(), 46u);
  for (size_t i = 0; i < vectors.size(); ++i)
    EXPECT_EQ(tokenizer->encode(vectors[i].first, false), vectors[i].second) << vocab << " vector " << i;
}

TEST(GgufTokenizer, LlamaCppSpmVocabFileMatchesItsVectors) { expect_vectors("ggml-vocab-llama-spm.gguf"); }

TEST(GgufTokenizer, LlamaCppGpt2VocabFileMatchesItsVectors) { expect_vectors("ggml-vocab-gpt-2.gguf"); }

// Writes the vocabulary as a tensor-less GGUF file and reads its tokenizer back.
std::unique_ptr<Tokenizer> through_gguf(const GgufVocab& vocab) {
  std::vector<GgufKeyValue> metadata = {{"general.architecture", GgufValue::string("llama")}};
  append_vocab_metadata(vocab, metadata);
  const std::string path = test::make_temp_dir() + "/vocab.gguf";
  write_gguf(path, metadata, {});
  return load_tokenizer(path);  // by extension, as `slmkit eval model.gguf` finds it
}

TEST(GgufTokenizer, ExportedSentencePieceVocabTokenizesLikeItsModelFile) {
  const std::string text = read_text_file(test::data_path("text/wikitext-2/wiki.test.raw")).substr(0, 60000) +
                           "  two  spaces, tabs\tand \xC3\xA9t\xC3\xA9 \xE2\x80\x94 unicode";
  for (const char* model : {"models/stories260k/tokenizer.model", "tokenizers/llama2/tokenizer.model"}) {
    const std::string path = test::data_path(model);
    const SpmTokenizer original(path);
    const auto from_gguf = through_gguf(vocab_from_sentencepiece(original.model()));
    EXPECT_EQ(from_gguf->encode(text, true), original.encode(text, true)) << model;
    EXPECT_EQ(from_gguf->bos_id(), original.bos_id()) << model;
    EXPECT_EQ(from_gguf->vocab_size(), original.vocab_size()) << model;
  }
}

TEST(GgufTokenizer, ExportedByteLevelVocabTokenizesLikeItsJson) {
  const std::string path = test::data_path("tokenizers/gpt2/tokenizer.json");
  const BpeTokenizer original(path);
  const GgufVocab vocab = vocab_from_tokenizer_json(read_json_file(path), "gpt2", original.bos_id(),
                                                    original.eos_id(), original.add_bos_by_default(), path);
  EXPECT_EQ(vocab.pre, "gpt-2");
  EXPECT_EQ(vocab.merges.size(), 50000u);
  const auto from_gguf = through_gguf(vocab);
  const std::string text = read_text_file(test::data_path("text/wikitext-2/wiki.test.raw")).substr(0, 30000);
  EXPECT_EQ(from_gguf->encode(text, false), original.encode(text, false));
}

TEST(GgufTokenizer, UnknownPreTokenizerIsRefused) {
  nlohmann::json tok = {{"model", {{"type", "BPE"}, {"vocab", {{"a", 0}}}, {"merges", {"a a"}}}},
                        {"pre_tokenizer", {{"type", "Whitespace"}}}};
  const std::string message = test::error_of([&] { vocab_from_tokenizer_json(tok, "llama", -1, -1, false, "t.json"); });
  EXPECT_NE(message.find("cannot tell which llama.cpp pre-tokenizer"), std::string::npos) << message;
}

}  // namespace
}  // namespace slmkit
