#include "tokenizer/spm_model.h"

#include <cstring>
#include <utility>

#include "core/error.h"

namespace slmkit {
namespace {

// Protobuf wire format: (field << 3 | wire type) keys, varints, length-delimited bytes.
class WireReader {
 public:
  WireReader(const char* data, size_t size, const std::string& path) : p_(data), end_(data + size), path_(path) {}

  bool done() const { return p_ >= end_; }
  size_t offset(const char* base) const { return static_cast<size_t>(p_ - base); }

  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      SLMKIT_CHECK(p_ < end_, path_, ": truncated varint in SentencePiece model");
      const uint8_t b = static_cast<uint8_t>(*p_++);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return v;
    }
    throw Error(cat(path_, ": malformed varint in SentencePiece model (more than 10 bytes)"));
  }
  std::string_view bytes() {
    const uint64_t n = varint();
    SLMKIT_CHECK(n <= static_cast<uint64_t>(end_ - p_), path_, ": field of ", n, " bytes runs past the end (",
                 end_ - p_, " left); the SentencePiece model is truncated or not a model file");
    std::string_view s(p_, static_cast<size_t>(n));
    p_ += n;
    return s;
  }
  float fixed32_float() {
    SLMKIT_CHECK(end_ - p_ >= 4, path_, ": truncated float in SentencePiece model");
    float f;
    std::memcpy(&f, p_, 4);
    p_ += 4;
    return f;
  }
  void skip(uint32_t wire_type) {
    switch (wire_type) {
      case 0: varint(); break;
      case 1: SLMKIT_CHECK(end_ - p_ >= 8, path_, ": truncated field"); p_ += 8; break;
      case 2: bytes(); break;
      case 5: SLMKIT_CHECK(end_ - p_ >= 4, path_, ": truncated field"); p_ += 4; break;
      default: throw Error(cat(path_, ": unsupported protobuf wire type ", wire_type, "; not a SentencePiece model?"));
    }
  }

 private:
  const char* p_;
  const char* end_;
  const std::string& path_;
};

void parse_piece(std::string_view msg, SpmModel& m, const std::string& path, const Limits& limits) {
  SLMKIT_CHECK(m.pieces.size() < limits.vocab_size, path, ": more than ", limits.vocab_size,
               " pieces (Limits::vocab_size); not a real SentencePiece model");
  WireReader r(msg.data(), msg.size(), path);
  std::string piece;
  float score = 0;
  int32_t type = 1;
  while (!r.done()) {
    const uint64_t key = r.varint();
    const uint32_t field = static_cast<uint32_t>(key >> 3), wt = static_cast<uint32_t>(key & 7);
    if (field == 1 && wt == 2) piece = std::string(r.bytes());
    else if (field == 2 && wt == 5) score = r.fixed32_float();
    else if (field == 3 && wt == 0) type = static_cast<int32_t>(r.varint());
    else r.skip(wt);
  }
  SLMKIT_CHECK(type >= 1 && type <= 6, path, ": piece ", m.pieces.size(), " has unknown type ", type);
  // A huge piece crashed libsentencepiece at load (sentencepiece#1263); NUL bytes
  // hide the rest of a piece from C-string code (libsentencepiece 0.2.2 rejects them).
  SLMKIT_CHECK(piece.size() <= limits.token_bytes, path, ": piece ", m.pieces.size(), " is ",
               piece.size(), " bytes long, more than the limit of ", limits.token_bytes,
               " (Limits::token_bytes)");
  SLMKIT_CHECK(piece.find('\0') == std::string::npos, path, ": piece ", m.pieces.size(),
               " contains a NUL byte at position ", piece.find('\0'),
               "; such pieces are refused (as libsentencepiece >= 0.2.2 does)");
  m.pieces.push_back(std::move(piece));
  m.scores.push_back(score);
  m.types.push_back(static_cast<SpmModel::PieceType>(type));
}

// Trainer-spec fields that only serve to find or check the special tokens.
struct SpecialTokens {
  int64_t unk_id = 0, bos_id = 1, eos_id = 2, pad_id = -1;  // protobuf defaults
  std::string bos_piece = "<s>", eos_piece = "</s>", pad_piece = "<pad>";
};

void parse_trainer_spec(std::string_view msg, SpmModel& m, SpecialTokens& special, const std::string& path) {
  WireReader r(msg.data(), msg.size(), path);
  while (!r.done()) {
    const uint64_t key = r.varint();
    const uint32_t field = static_cast<uint32_t>(key >> 3), wt = static_cast<uint32_t>(key & 7);
    if (wt == 2 && field >= 44 && field <= 48) {
      std::string text(r.bytes());
      if (field == 44) m.unk_surface = std::move(text);
      else if (field == 46) special.bos_piece = std::move(text);
      else if (field == 47) special.eos_piece = std::move(text);
      else if (field == 48) special.pad_piece = std::move(text);
      continue;  // 45: unk_piece; <unk> is found by its type
    }
    if (wt != 0) {
      r.skip(wt);
      continue;
    }
    // int32 fields: negative values arrive as 64-bit two's complement.
    const int64_t v = static_cast<int64_t>(r.varint());
    switch (field) {
      case 3: m.algorithm = static_cast<SpmModel::Algorithm>(v); break;
      case 24: m.treat_whitespace_as_suffix = v != 0; break;
      case 35: m.byte_fallback = v != 0; break;
      case 40: special.unk_id = v; break;
      case 41: special.bos_id = v; break;
      case 42: special.eos_id = v; break;
      case 43: special.pad_id = v; break;
      default: break;
    }
  }
}

// The id of the CONTROL piece named `name`, -1 if there is none.
int32_t control_piece(const SpmModel& m, const std::string& name) {
  for (size_t id = 0; id < m.pieces.size(); ++id)
    if (m.pieces[id] == name && m.types[id] == SpmModel::PieceType::kControl) return static_cast<int32_t>(id);
  return -1;
}

void resolve_special_tokens(SpmModel& m, const SpecialTokens& special, const std::string& path) {
  const int64_t n = static_cast<int64_t>(m.pieces.size());
  // libsentencepiece ignores these ids, but a file that declares ids outside
  // its own vocabulary is corrupt or not what it claims to be.
  SLMKIT_CHECK(special.unk_id >= 0 && special.unk_id < n, path, ": unk_id ", special.unk_id,
               " is outside the vocabulary of ", n, " pieces");
  const std::pair<const char*, int64_t> optional_ids[] = {
      {"bos_id", special.bos_id}, {"eos_id", special.eos_id}, {"pad_id", special.pad_id}};
  for (const auto& [name, id] : optional_ids)
    SLMKIT_CHECK(id >= -1 && id < n, path, ": ", name, " ", id, " is outside the vocabulary of ", n,
                 " pieces (-1 means none)");
  for (int32_t id = 0; id < static_cast<int32_t>(n); ++id) {
    if (m.types[static_cast<size_t>(id)] != SpmModel::PieceType::kUnknown) continue;
    SLMKIT_CHECK(m.unk_id < 0, path, ": pieces ", m.unk_id, " and ", id,
                 " are both of type UNKNOWN; a SentencePiece model has one <unk>");
    m.unk_id = id;
  }
  SLMKIT_CHECK(m.unk_id >= 0, path, ": no piece has type UNKNOWN; a SentencePiece model needs an <unk>");
  m.bos_id = control_piece(m, special.bos_piece);
  m.eos_id = control_piece(m, special.eos_piece);
  m.pad_id = control_piece(m, special.pad_piece);
}

void parse_normalizer_spec(std::string_view msg, SpmModel& m, const std::string& path) {
  WireReader r(msg.data(), msg.size(), path);
  while (!r.done()) {
    const uint64_t key = r.varint();
    const uint32_t field = static_cast<uint32_t>(key >> 3), wt = static_cast<uint32_t>(key & 7);
    if (field == 1 && wt == 2) m.normalizer_name = std::string(r.bytes());
    else if (field == 2 && wt == 2) m.has_precompiled_charsmap = !r.bytes().empty();
    else if (field == 3 && wt == 0) m.add_dummy_prefix = r.varint() != 0;
    else if (field == 4 && wt == 0) m.remove_extra_whitespaces = r.varint() != 0;
    else if (field == 5 && wt == 0) m.escape_whitespaces = r.varint() != 0;
    else r.skip(wt);
  }
}

}  // namespace

SpmModel parse_spm_model(const std::string& bytes, const std::string& path, const Limits& limits) {
  SLMKIT_CHECK(!bytes.empty(), path, ": file is empty; expected a SentencePiece tokenizer.model");
  SpmModel m;
  SpecialTokens special;
  WireReader r(bytes.data(), bytes.size(), path);
  while (!r.done()) {
    const uint64_t key = r.varint();
    const uint32_t field = static_cast<uint32_t>(key >> 3), wt = static_cast<uint32_t>(key & 7);
    if (field == 1 && wt == 2) parse_piece(r.bytes(), m, path, limits);
    else if (field == 2 && wt == 2) parse_trainer_spec(r.bytes(), m, special, path);
    else if (field == 3 && wt == 2) parse_normalizer_spec(r.bytes(), m, path);
    else r.skip(wt);
  }
  const int32_t n = static_cast<int32_t>(m.pieces.size());
  SLMKIT_CHECK(n > 0, path, ": SentencePiece model has no pieces (not a tokenizer.model file?)");
  resolve_special_tokens(m, special, path);
  return m;
}

}  // namespace slmkit
