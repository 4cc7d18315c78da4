// The "model" of a byte-level BPE tokenizer.json: vocabulary and merges.
// Works on raw bytes: the 256 byte-level code points are mapped back to bytes
// once at load time, so encoding never builds byte-level strings.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

namespace slmkit {

class BpeModel {
 public:
  // `model` is tokenizer.json's "model" object: "type" "BPE" or absent (older
  // files), "vocab" {token: id}, "merges" as "a b" strings or ["a", "b"] pairs.
  BpeModel(const nlohmann::json& model, const std::string& what);

  // Appends the ids of one pre-token given as raw bytes.
  void encode_piece(std::string_view bytes, std::vector<int32_t>& out) const;

  // One past the largest vocabulary id.
  int32_t id_limit() const { return static_cast<int32_t>(id_to_bytes_.size()); }
  int32_t vocab_count() const { return static_cast<int32_t>(token_to_id_.size()); }
  size_t merge_count() const { return merges_.size(); }

  // Whether `id` is a vocabulary id.
  bool has_id(int32_t id) const { return id >= 0 && id < id_limit() && has_id_[id]; }
  // The raw bytes of vocabulary id `id` (its text when it is not byte-level).
  const std::string& id_bytes(int32_t id) const { return id_to_bytes_[id]; }
  // The id of a vocabulary token given as written in the file, or -1.
  int32_t token_id(const std::string& token) const;

 private:
  struct Merge {
    int32_t rank;    // index in the merges list: lower merges first
    int32_t merged;  // id of the concatenation
  };
  static uint64_t pair_key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
           static_cast<uint32_t>(right);
  }
  void load_merges(const nlohmann::json& merges, const std::string& where);
  void merge_symbols(std::vector<int32_t>& symbols) const;

  std::unordered_map<std::string, int32_t> token_to_id_;  // as written (byte-level text)
  std::unordered_map<std::string, int32_t> bytes_to_id_;  // raw bytes of byte-level tokens
  std::vector<std::string> id_to_bytes_;
  std::vector<bool> has_id_;
  int32_t byte_ids_[256];  // id of each single byte, -1 if absent
  std::unordered_map<uint64_t, Merge> merges_;
  bool ignore_merges_ = false;  // look whole pre-tokens up first (Llama-3)
  int32_t unk_id_ = -1;
  bool fuse_unk_ = false;
};

}  // namespace slmkit
