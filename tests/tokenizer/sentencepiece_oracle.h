// libsentencepiece behind slmkit's Tokenizer interface, for the tests only: it
// is the reference our own SpmTokenizer must match. The library itself may not
// link libsentencepiece: Debian's build embeds protobuf-lite and exports its
// symbols, which interpose LibTorch's libprotobuf and crash any process that
// loads both. test_tokenizer is LibTorch-free, so the oracle is safe there.
#pragma once

#include <memory>
#include <string>

#include "tokenizer/tokenizer.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace slmkit::test {

class SentencePieceOracle : public Tokenizer {
 public:
  // Loads `path`; throws Error naming it when it is not a SentencePiece model.
  explicit SentencePieceOracle(const std::string& path);
  ~SentencePieceOracle() override;

  std::vector<int32_t> encode(std::string_view text, bool add_bos) const override;
  // Ids outside the vocabulary throw Error (libsentencepiece would fail too).
  std::string decode(const std::vector<int32_t>& ids) const override;
  int32_t vocab_size() const override { return vocab_size_; }
  int32_t bos_id() const override;
  int32_t eos_id() const override;
  int32_t unk_id() const;
  bool add_bos_by_default() const override { return true; }
  std::string describe() const override;

 private:
  std::string path_;
  std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
  int32_t vocab_size_ = 0;
};

}  // namespace slmkit::test
