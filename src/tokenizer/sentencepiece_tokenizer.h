// SentencePiece tokenizer.model (Llama-2, TinyLlama, llama2.c's stories
// models) through libsentencepiece. BOS/EOS/UNK come from the model; BOS is
// added by default (Llama convention: HF's add_bos_token).
#pragma once

#include <memory>
#include <string>

#include "tokenizer/tokenizer.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace slmkit {

class SentencePieceTokenizer : public Tokenizer {
 public:
  // Loads `path`; throws Error naming it when it is not a SentencePiece model.
  explicit SentencePieceTokenizer(const std::string& path);
  ~SentencePieceTokenizer() override;

  std::vector<int32_t> encode(std::string_view text, bool add_bos) const override;
  // Control tokens (BOS/EOS) decode to nothing; the dummy-prefix space of the
  // first piece is dropped, as SentencePiece does.
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

}  // namespace slmkit
