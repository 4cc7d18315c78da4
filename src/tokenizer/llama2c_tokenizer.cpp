#include "tokenizer/llama2c_tokenizer.h"

#include <cmath>
#include <cstring>
#include <queue>

#include "core/error.h"
#include "io/mapped_file.h"
#include "tokenizer/unicode_text.h"

namespace slmkit {
namespace {

constexpr int32_t kByteCount = 256;
// A piece longer than this is not a token; llama2.c's encode buffers
// 2 * max_token_length bytes.
constexpr int32_t kMaxPieceBytes = 1 << 16;
// llama2.c starts its search at best_score = -1e10 and merges only pairs that beat it.
constexpr float kNoMergeScore = -1e10f;

template <typename T>
T read_le(const uint8_t* p) {
  T value;
  std::memcpy(&value, p, sizeof(T));  // x86/ARM little-endian, as llama2.c writes it
  return value;
}

std::string byte_piece_name(int byte) {
  static const char* const kHex = "0123456789ABCDEF";
  return std::string("<0x") + kHex[byte >> 4] + kHex[byte & 15] + ">";
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// The byte of a "<0xNN>" piece, or -1 (llama2.c: sscanf(piece, "<0x%02hhX>")).
int byte_piece_value(std::string_view piece) {
  if (piece.size() != 6 || piece.compare(0, 3, "<0x") != 0 || piece[5] != '>') return -1;
  const int high = hex_value(piece[3]), low = hex_value(piece[4]);
  return high < 0 || low < 0 ? -1 : high * 16 + low;
}

}  // namespace

Llama2cTokenizer::Llama2cTokenizer(const std::string& path) : Llama2cTokenizer(MappedFile::open(path)) {}

Llama2cTokenizer::Llama2cTokenizer(const std::shared_ptr<const MappedFile>& file) : path_(file->path()) {
  const std::string& path = path_;
  const uint8_t* data = file->data();
  const size_t size = file->size();
  SLMKIT_CHECK(size >= 4, path,
               ": too small for a llama2.c tokenizer: expected at least 4 bytes "
               "(int32 max_token_length), found ",
               size);
  max_token_length_ = read_le<int32_t>(data);
  SLMKIT_CHECK(max_token_length_ > 0 && max_token_length_ <= kMaxPieceBytes, path,
               ": max_token_length is ", max_token_length_, "; expected 1..", kMaxPieceBytes,
               " (is this a llama2.c tokenizer.bin?)");
  size_t offset = 4;
  while (offset < size) {
    const size_t id = pieces_.size();
    SLMKIT_CHECK(size - offset >= 8, path, ": truncated: token ", id, " at byte offset ", offset,
                 " needs 8 bytes (f32 score, int32 length), only ", size - offset, " left");
    const float score = read_le<float>(data + offset);
    const int32_t length = read_le<int32_t>(data + offset + 4);
    offset += 8;
    SLMKIT_CHECK(std::isfinite(score), path, ": token ", id, " has a non-finite score ", score);
    SLMKIT_CHECK(length >= 0 && length <= max_token_length_, path, ": token ", id, " has length ",
                 length, "; expected 0..max_token_length (", max_token_length_, ")");
    SLMKIT_CHECK(size - offset >= static_cast<size_t>(length), path, ": truncated: token ", id,
                 " at byte offset ", offset, " needs ", length, " bytes, only ", size - offset,
                 " left");
    pieces_.emplace_back(reinterpret_cast<const char*>(data + offset), static_cast<size_t>(length));
    scores_.push_back(score);
    offset += static_cast<size_t>(length);
  }
  SLMKIT_CHECK(pieces_.size() >= static_cast<size_t>(kFirstByteId + kByteCount), path, ": has ",
               pieces_.size(), " tokens; a llama2.c tokenizer needs at least ",
               kFirstByteId + kByteCount, " (<unk>, BOS, EOS and 256 byte pieces)");
  SLMKIT_CHECK(pieces_.size() <= static_cast<size_t>(INT32_MAX), path, ": too many tokens");
  for (int byte = 0; byte < kByteCount; ++byte) {
    const std::string& piece = pieces_[kFirstByteId + byte];
    SLMKIT_CHECK(byte_piece_value(piece) == byte, path, ": token ", kFirstByteId + byte,
                 " must be the byte piece ", byte_piece_name(byte),
                 " (llama2.c's byte fallback uses id byte+3), found '", piece, "'");
  }
  for (size_t id = 0; id < pieces_.size(); ++id) {
    piece_to_id_.emplace(pieces_[id], static_cast<int32_t>(id));
  }
  space_id_ = lookup(" ");
  SLMKIT_CHECK(space_id_ >= 0, path,
               ": has no ' ' piece (SentencePiece '▁'), which llama2.c's "
               "encode needs as its dummy prefix");
}

int32_t Llama2cTokenizer::lookup(const std::string& piece) const {
  const auto it = piece_to_id_.find(piece);
  return it == piece_to_id_.end() ? -1 : it->second;
}

std::vector<int32_t> Llama2cTokenizer::encode(std::string_view text, bool add_bos) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size() + 2);
  if (add_bos) ids.push_back(kBosId);
  if (!text.empty()) ids.push_back(space_id_);  // add_dummy_prefix
  // One lookup per UTF-8 code point: a lead byte starts a new buffer, up to 4
  // bytes are gathered; unknown code points fall back to their bytes. (Unlike
  // llama2.c's C string, a NUL byte does not end the text; it falls back to <0x00>.)
  std::string buffer;
  for (size_t i = 0; i < text.size(); ++i) {
    const uint8_t byte = static_cast<uint8_t>(text[i]);
    if ((byte & 0xC0) != 0x80) buffer.clear();
    buffer.push_back(static_cast<char>(byte));
    const bool next_continues =
        i + 1 < text.size() && (static_cast<uint8_t>(text[i + 1]) & 0xC0) == 0x80;
    if (next_continues && buffer.size() < 4) continue;
    const int32_t id = lookup(buffer);
    if (id >= 0) {
      ids.push_back(id);
    } else {
      for (const char c : buffer) ids.push_back(static_cast<uint8_t>(c) + kFirstByteId);
    }
    buffer.clear();
  }
  merge_best_pairs(ids);
  return ids;
}

void Llama2cTokenizer::merge_best_pairs(std::vector<int32_t>& ids) const {
  // llama2.c rescans all pairs after every merge (quadratic); a priority queue
  // of candidate pairs picks the same pair each time: the highest score, then
  // the leftmost position. Merging only changes the pairs next to the merge.
  const int32_t count = static_cast<int32_t>(ids.size());
  if (count < 2) return;
  std::vector<int32_t> prev(count), next(count);
  for (int32_t i = 0; i < count; ++i) {
    prev[i] = i - 1;
    next[i] = i + 1 < count ? i + 1 : -1;
  }
  struct Candidate {
    float score;
    int32_t position, left_id, right_id, merged_id;
  };
  const auto worse = [](const Candidate& a, const Candidate& b) {
    return a.score != b.score ? a.score < b.score : a.position > b.position;
  };
  std::priority_queue<Candidate, std::vector<Candidate>, decltype(worse)> queue(worse);
  std::string joined;
  const auto push_pair = [&](int32_t left) {
    if (left < 0 || next[left] < 0) return;
    const int32_t right = next[left];
    joined.assign(pieces_[ids[left]]).append(pieces_[ids[right]]);
    const int32_t merged = lookup(joined);
    if (merged >= 0 && scores_[merged] > kNoMergeScore) {
      queue.push({scores_[merged], left, ids[left], ids[right], merged});
    }
  };
  for (int32_t i = 0; i + 1 < count; ++i) push_pair(i);
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    const int32_t left = top.position;
    // Stale when either side was merged since the candidate was queued (a merge
    // always yields a longer piece, so an id cannot come back).
    if (ids[left] != top.left_id || next[left] < 0 || ids[next[left]] != top.right_id) continue;
    const int32_t right = next[left];
    ids[left] = top.merged_id;
    ids[right] = -1;
    next[left] = next[right];
    if (next[left] >= 0) prev[next[left]] = left;
    push_pair(prev[left]);
    push_pair(left);
  }
  int32_t kept = 0;
  for (int32_t i = 0; i >= 0; i = next[i]) ids[kept++] = ids[i];
  ids.resize(kept);
}

std::string Llama2cTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string bytes;
  int32_t previous = kBosId;
  for (const int32_t id : ids) {
    SLMKIT_CHECK(id >= 0 && id < vocab_size(), "cannot decode token id ", id, ": outside [0, ",
                 vocab_size(), ") of ", path_);
    if (id == kBosId || id == kEosId) {
      previous = id;
      continue;
    }
    std::string_view piece = pieces_[id];
    if (previous == kBosId && !piece.empty() && piece[0] == ' ') piece.remove_prefix(1);
    const int byte = byte_piece_value(piece);
    if (byte >= 0) {
      bytes.push_back(static_cast<char>(byte));
    } else {
      bytes.append(piece);
    }
    previous = id;
  }
  return unicode::repair_utf8(bytes);
}

std::string Llama2cTokenizer::describe() const {
  return cat("llama2.c tokenizer (", pieces_.size(), " pieces)");
}

}  // namespace slmkit
