#include "sentencepiece_oracle.h"

#include <sentencepiece_processor.h>

#include "core/error.h"

namespace slmkit::test {

SentencePieceOracle::SentencePieceOracle(const std::string& path)
    : path_(path), processor_(std::make_unique<sentencepiece::SentencePieceProcessor>()) {
  const sentencepiece::util::Status status = processor_->Load(path);
  SLMKIT_CHECK(status.ok(), path, ": cannot load SentencePiece model: ", status.ToString());
  vocab_size_ = processor_->GetPieceSize();
  SLMKIT_CHECK(vocab_size_ > 0, path, ": SentencePiece model has no pieces");
}

SentencePieceOracle::~SentencePieceOracle() = default;

int32_t SentencePieceOracle::bos_id() const { return processor_->bos_id(); }
int32_t SentencePieceOracle::eos_id() const { return processor_->eos_id(); }
int32_t SentencePieceOracle::unk_id() const { return processor_->unk_id(); }

std::vector<int32_t> SentencePieceOracle::encode(std::string_view text, bool add_bos) const {
  std::vector<int> pieces;
  const sentencepiece::util::Status status = processor_->Encode(text, &pieces);
  SLMKIT_CHECK(status.ok(), path_, ": SentencePiece cannot encode the text: ", status.ToString());
  std::vector<int32_t> ids;
  ids.reserve(pieces.size() + 1);
  if (add_bos && bos_id() >= 0) ids.push_back(bos_id());
  ids.insert(ids.end(), pieces.begin(), pieces.end());
  return ids;
}

std::string SentencePieceOracle::decode(const std::vector<int32_t>& ids) const {
  std::vector<int> pieces;
  pieces.reserve(ids.size());
  for (const int32_t id : ids) {
    SLMKIT_CHECK(id >= 0 && id < vocab_size_, "cannot decode token id ", id, ": outside [0, ",
                 vocab_size_, ") of ", path_);
    pieces.push_back(id);
  }
  std::string text;
  const sentencepiece::util::Status status = processor_->Decode(pieces, &text);
  SLMKIT_CHECK(status.ok(), path_, ": SentencePiece cannot decode: ", status.ToString());
  return text;
}

std::string SentencePieceOracle::describe() const {
  return cat("libsentencepiece oracle (", vocab_size_, " pieces)");
}

}  // namespace slmkit::test
