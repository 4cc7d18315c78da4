// SentencePiece BPE models (Llama-2, TinyLlama, Mistral, llama2.c's stories
// models) encoded and decoded natively from `tokenizer.model`, matching
// libsentencepiece: normalize (dummy prefix, spaces as "▁"), split into
// characters (user-defined pieces kept whole), repeatedly merge the adjacent
// pair whose concatenation is a vocabulary piece with the highest score
// (leftmost on ties), then map leftover characters to byte pieces <0xNN>.
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

  std::vector<int32_t> encode(std::string_view text, bool add_bos) const override;
  std::string decode(const std::vector<int32_t>& ids) const override;
  int32_t vocab_size() const override { return static_cast<int32_t>(model_.pieces.size()); }
  int32_t bos_id() const override { return model_.bos_id; }
  int32_t eos_id() const override { return model_.eos_id; }
  bool add_bos_by_default() const override { return true; }
  std::string describe() const override;

  const SpmModel& model() const { return model_; }

 private:
  std::string normalize(std::string_view text) const;
  int32_t mergeable_id(std::string_view piece) const;  // -1 unless a normal/user-defined piece
  void append_with_byte_fallback(std::string_view symbol, std::vector<int32_t>& out) const;

  std::string path_;
  SpmModel model_;
  std::unordered_map<std::string_view, int32_t> mergeable_;  // normal + user-defined pieces
  std::vector<std::string_view> user_defined_;               // matched whole before merging
  int32_t byte_ids_[256];                                     // <0xNN> → id, -1 if absent
};

}  // namespace slmkit
