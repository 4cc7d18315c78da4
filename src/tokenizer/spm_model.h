// The contents of a SentencePiece `tokenizer.model` (a protobuf ModelProto),
// read with a small wire-format parser of our own. We do not use
// libsentencepiece in the library: Debian's build embeds a protobuf-lite whose
// exported symbols interpose LibTorch's libprotobuf and crash any process that
// loads both (docs/DESIGN.md). The tests still use it as an oracle.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace slmkit {

struct SpmModel {
  enum class PieceType : int32_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };
  enum class Algorithm : int32_t { kUnigram = 1, kBPE = 2, kWord = 3, kChar = 4 };

  std::vector<std::string> pieces;  // id → piece ("▁the", "<0x0A>", "<s>")
  std::vector<float> scores;
  std::vector<PieceType> types;

  Algorithm algorithm = Algorithm::kUnigram;  // protobuf defaults
  bool byte_fallback = false;
  int32_t unk_id = 0, bos_id = 1, eos_id = 2, pad_id = -1;
  std::string normalizer_name;
  bool has_precompiled_charsmap = false;
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = true;
  bool escape_whitespaces = true;
};

// Parses the protobuf bytes; `path` names the file in errors. Throws Error on
// malformed input (bad varints, lengths past the end, ids out of range).
SpmModel parse_spm_model(const std::string& bytes, const std::string& path);

}  // namespace slmkit
