// karpathy/llama2.c's tokenizer.bin: int32 max_token_length, then per token an
// f32 score, an int32 byte length and the piece bytes (SentencePiece pieces
// with '▁' written as ' '; bytes as "<0xNN>" at ids 3..258; BOS=1, EOS=2).
// Encoding follows llama2.c's encode(): a dummy-prefix ' ' token, one lookup
// per UTF-8 code point with byte fallback to id byte+3, then repeated merging
// of the adjacent pair whose concatenation has the best score (leftmost on
// ties). Decoding follows its decode(): a leading ' ' is dropped after BOS and
// "<0xNN>" pieces are raw bytes.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "io/mapped_file.h"
#include "tokenizer/tokenizer.h"

namespace slmkit {

class Llama2cTokenizer : public Tokenizer {
 public:
  static constexpr int32_t kBosId = 1;
  static constexpr int32_t kEosId = 2;
  static constexpr int32_t kFirstByteId = 3;  // id of "<0x00>"

  // Reads and validates `path` (counts, lengths, byte pieces); throws Error
  // naming the file, the token and the byte offset on anything malformed.
  explicit Llama2cTokenizer(const std::string& path);
  // The same over an already opened (or in-memory) file.
  explicit Llama2cTokenizer(const std::shared_ptr<const MappedFile>& file);

  std::vector<int32_t> encode(std::string_view text, bool add_bos) const override;
  // Skips BOS/EOS. The start of the sequence counts as "after BOS" (llama2.c
  // always starts from BOS), so the dummy-prefix space is dropped there too.
  std::string decode(const std::vector<int32_t>& ids) const override;
  int32_t vocab_size() const override { return static_cast<int32_t>(pieces_.size()); }
  int32_t bos_id() const override { return kBosId; }
  int32_t eos_id() const override { return kEosId; }
  bool add_bos_by_default() const override { return true; }
  std::string describe() const override;

  int32_t max_token_length() const { return max_token_length_; }
  const std::string& piece(int32_t id) const { return pieces_.at(id); }
  float score(int32_t id) const { return scores_.at(id); }

 private:
  int32_t lookup(const std::string& piece) const;
  void merge_best_pairs(std::vector<int32_t>& ids) const;

  std::string path_;
  int32_t max_token_length_ = 0;
  std::vector<std::string> pieces_;
  std::vector<float> scores_;
  std::unordered_map<std::string, int32_t> piece_to_id_;  // first id of each piece
  int32_t space_id_ = -1;
};

}  // namespace slmkit
