// SentencePiece BPE models (Llama-2, TinyLlama, Mistral, llama2.c's stories
// models) encoded and decoded natively from `tokenizer.model`, matching
// libsentencepiece id for id (the tests compare against it):
//  * normalize: each byte that is not UTF-8 becomes U+FFFD, spaces become "▁",
//    a dummy "▁" prefix is added, extra spaces are squashed if the model says so;
//  * split into characters (user-defined pieces kept whole and never merged),
//    then repeatedly merge the adjacent pair whose concatenation is a piece with
//    the highest score (leftmost on ties); "unused" pieces are split back into
//    the two halves they were merged from;
//  * symbols that are not pieces become byte pieces <0xNN> (byte fallback) or <unk>.
// Decoding skips control pieces, drops the "▁" of the first piece that starts
// the text and turns byte pieces that do not form UTF-8 into U+FFFD, one per byte.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/spm_model.h"
#include "tokenizer/tokenizer.h"

namespace slmkit {

class SpmTokenizer : public Tokenizer {
 public:
  explicit SpmTokenizer(const std::string& path);  // throws Error naming the file
  // From a parsed model (e.g. bytes in memory); `name` stands for the path in errors.
  SpmTokenizer(SpmModel model, const std::string& name);
  // piece_ids_ holds views into model_.pieces, which a copy would not update.
  SpmTokenizer(const SpmTokenizer&) = delete;
  SpmTokenizer& operator=(const SpmTokenizer&) = delete;

  std::vector<int32_t> encode(std::string_view text, bool add_bos) const override;
  // Throws Error for ids outside the vocabulary.
  std::string decode(const std::vector<int32_t>& ids) const override;
  int32_t vocab_size() const override { return static_cast<int32_t>(model_.pieces.size()); }
  int32_t bos_id() const override { return model_.bos_id; }
  int32_t eos_id() const override { return model_.eos_id; }
  bool add_bos_by_default() const override { return true; }
  std::string describe() const override;

  const SpmModel& model() const { return model_; }

 private:
  using PieceType = SpmModel::PieceType;

  PieceType type(int32_t id) const { return model_.types[static_cast<size_t>(id)]; }
  std::string normalize(std::string_view text) const;
  // Length of the longest user-defined piece at text[pos], 0 when none.
  size_t user_defined_at(std::string_view text, size_t pos) const;
  int32_t piece_id(std::string_view piece) const;  // -1 when not a piece
  // Appends the id of a final symbol: its piece, else its bytes, else <unk>.
  void append_symbol(std::string_view symbol, std::vector<int32_t>& out) const;

  std::string path_;
  SpmModel model_;
  std::unordered_map<std::string_view, int32_t> piece_ids_;  // every piece
  std::vector<std::string_view> user_defined_;               // longest first
  int32_t byte_ids_[256];                                     // <0xNN> → id, -1 if absent
  std::vector<int16_t> byte_values_;                          // id → NN of <0xNN>, -1 otherwise
};

}  // namespace slmkit
