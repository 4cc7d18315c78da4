// llama.cpp's tokenizer test vectors (tests/test-tokenizer-0): every input of
// the .inp file must encode (without BOS) to the ids on the matching line of
// the .out file. The vectors were generated with Hugging Face tokenizers
// (AutoTokenizer.encode(text, add_special_tokens=False)); the SPM vectors come
// from Llama-2's tokenizer, the GPT-2 vectors from GPT-2's.
#include <iostream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "io/mapped_file.h"
#include "sentencepiece_oracle.h"
#include "test_util.h"
#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/spm_tokenizer.h"

namespace slmkit {
namespace {

struct Vector {
  std::string input;
  std::vector<int32_t> expected;
};

// Reads <vocab>.inp (inputs, each followed by "\n__ggml_vocab_test__\n") and
// <vocab>.out (one line of space-separated ids per input).
std::vector<Vector> read_vectors(const std::string& vocab) {
  const std::string base = test::data_path("tokenizers/llamacpp-vectors/" + vocab);
  std::string inputs = read_text_file(base + ".inp");
  const std::string outputs = read_text_file(base + ".out");
  const std::string separator = "\n__ggml_vocab_test__\n";
  std::vector<Vector> vectors;
  for (size_t pos = 0; pos < inputs.size();) {
    const size_t end = inputs.find(separator, pos);
    if (end == std::string::npos) {
      ADD_FAILURE() << base << ".inp: text after the last separator at byte " << pos;
      break;
    }
    vectors.push_back({inputs.substr(pos, end - pos), {}});
    pos = end + separator.size();
  }
  std::istringstream lines(outputs);
  std::string line;
  size_t index = 0;
  while (std::getline(lines, line)) {
    if (index >= vectors.size()) {
      ADD_FAILURE() << base << ".out has more lines than .inp has inputs";
      break;
    }
    std::istringstream ids(line);
    int32_t id = 0;
    while (ids >> id) vectors[index].expected.push_back(id);
    ++index;
  }
  EXPECT_EQ(index, vectors.size()) << base << ".out: one line per input";
  return vectors;
}

std::string show(const std::vector<int32_t>& ids) {
  std::string out;
  for (const int32_t id : ids) out += " " + std::to_string(id);
  return out;
}

// Encodes every vector and counts the matches; reports each mismatch.
int count_matches(const Tokenizer& tokenizer, const std::vector<Vector>& vectors) {
  int matched = 0;
  for (size_t i = 0; i < vectors.size(); ++i) {
    const std::vector<int32_t> ids = tokenizer.encode(vectors[i].input, /*add_bos=*/false);
    if (ids == vectors[i].expected) {
      ++matched;
    } else {
      ADD_FAILURE() << "vector " << i << " \"" << vectors[i].input
                    << "\"\n  expected:" << show(vectors[i].expected)
                    << "\n  found:   " << show(ids);
    }
  }
  return matched;
}

// Returns the indices of the vectors whose decode(encode(x)) differs from x.
std::vector<size_t> round_trip_failures(const Tokenizer& tokenizer,
                                        const std::vector<Vector>& vectors) {
  std::vector<size_t> failures;
  for (size_t i = 0; i < vectors.size(); ++i) {
    const std::string decoded = tokenizer.decode(tokenizer.encode(vectors[i].input, false));
    if (decoded != vectors[i].input) {
      failures.push_back(i);
      std::cerr << "round trip " << i << ": [" << vectors[i].input << "] -> [" << decoded << "]\n";
    }
  }
  return failures;
}

// Ours (SpmTokenizer) and libsentencepiece (the oracle) on the same vectors:
// if the oracle ever disagreed with the vectors, the two failures would tell
// a vector problem apart from a bug of ours.
TEST(LlamaCppVectors, SpmTokenizerLlamaMatchesAll) {
  const std::vector<Vector> vectors = read_vectors("ggml-vocab-llama-spm.gguf");
  ASSERT_EQ(vectors.size(), 46u);
  const SpmTokenizer tokenizer(test::data_path("tokenizers/llama2/tokenizer.model"));
  EXPECT_EQ(count_matches(tokenizer, vectors), static_cast<int>(vectors.size()));
  EXPECT_TRUE(round_trip_failures(tokenizer, vectors).empty());
}

TEST(LlamaCppVectors, SentencePieceOracleLlamaMatchesAll) {
  const std::vector<Vector> vectors = read_vectors("ggml-vocab-llama-spm.gguf");
  ASSERT_EQ(vectors.size(), 46u);
  const test::SentencePieceOracle oracle(test::data_path("tokenizers/llama2/tokenizer.model"));
  EXPECT_EQ(count_matches(oracle, vectors), static_cast<int>(vectors.size()));
  EXPECT_TRUE(round_trip_failures(oracle, vectors).empty());
}

TEST(LlamaCppVectors, Gpt2MatchesAll) {
  const std::vector<Vector> vectors = read_vectors("ggml-vocab-gpt-2.gguf");
  ASSERT_EQ(vectors.size(), 46u);
  const BpeTokenizer tokenizer(test::data_path("tokenizers/gpt2/tokenizer.json"));
  EXPECT_EQ(count_matches(tokenizer, vectors), static_cast<int>(vectors.size()));
  EXPECT_TRUE(round_trip_failures(tokenizer, vectors).empty());
}

}  // namespace
}  // namespace slmkit
