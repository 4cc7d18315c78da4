// The contents of a SentencePiece `tokenizer.model` (a protobuf ModelProto),
// read with a small wire-format parser of our own. We do not use
// libsentencepiece in the library: Debian's build embeds a protobuf-lite whose
// exported symbols interpose LibTorch's libprotobuf and crash any process that
// loads both (docs/DESIGN.md). The tests still use it as an oracle.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/limits.h"

namespace slmkit {

struct SpmModel {
  enum class PieceType : int32_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };
  enum class Algorithm : int32_t { kUnigram = 1, kBPE = 2, kWord = 3, kChar = 4 };

  std::vector<std::string> pieces;  // id → piece ("▁the", "<0x0A>", "<s>")
  std::vector<float> scores;
  std::vector<PieceType> types;

  Algorithm algorithm = Algorithm::kUnigram;  // protobuf defaults
  bool byte_fallback = false;
  // Special tokens found as libsentencepiece finds them: <unk> is the one piece
  // of type UNKNOWN; BOS/EOS/PAD are the CONTROL pieces the trainer spec names
  // ("<s>", "</s>", "<pad>" by default), -1 when there is none. The numeric ids
  // the trainer spec also declares are only checked, never used.
  int32_t unk_id = -1, bos_id = -1, eos_id = -1, pad_id = -1;
  // What <unk> decodes to. Taken from the file, not assumed: llama2.c's
  // training script stored it shell-escaped (" \342\201\207 ") and
  // libsentencepiece prints exactly that.
  std::string unk_surface = " \xE2\x81\x87 ";  // " ⁇ "
  bool treat_whitespace_as_suffix = false;
  std::string normalizer_name;
  bool has_precompiled_charsmap = false;
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = true;
  bool escape_whitespaces = true;
};

// Parses the protobuf bytes; `path` names the file in errors. Throws Error on
// malformed input (empty file, bad varints, lengths past the end, unknown piece
// types, declared special ids outside the vocabulary, no or two <unk> pieces). Later copies of a field override earlier
// ones, as protobuf merges them.
// Pieces longer than limits.token_bytes, pieces with a NUL byte and more than
// limits.vocab_size pieces are refused too.
SpmModel parse_spm_model(const std::string& bytes, const std::string& path,
                         const Limits& limits = Limits{});

}  // namespace slmkit
