// Tokenizer metadata for GGUF (tokenizer.ggml.*): built from the tokenizer files
// slmkit reads and written with the keys, types and values llama.cpp's converter writes
// (convert_hf_to_gguf.py _set_vocab_sentencepiece / _set_vocab_gpt2):
//   tokenizer.ggml.model  "llama" (SentencePiece) or "gpt2" (byte-level BPE)
//   tokenizer.ggml.pre    BPE pre-tokenizer name; llama.cpp refuses unknown names
//   tokenizer.ggml.tokens / scores (f32) / token_type (i32) / merges (BPE)
//   tokenizer.ggml.{bos,eos,unknown,padding}_token_id (u32), add_bos_token,
//   add_eos_token, add_space_prefix (bool); remove_extra_whitespaces (bool, a
//   llama.cpp key its SentencePiece tokenizer ignores: slmkit writes it so a
//   GGUF file tokenizes as the tokenizer.model it came from)
// and read back from a GGUF file (vocab_from_gguf) to tokenize with it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/gguf.h"
#include "tokenizer/spm_model.h"

namespace slmkit {

// llama.cpp's token types (llama_token_type): file values, never renumber.
enum class GgufTokenType : int32_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

struct GgufVocab {
  std::string model;  // "llama" or "gpt2"
  std::string pre;    // "default" for SentencePiece; "gpt-2", "llama-bpe", "qwen2", "smollm" for BPE
  std::vector<std::string> tokens;  // id → text as the tokenizer stores it ("▁the", "Ġthe", "<0x0A>")
  std::vector<float> scores;        // SentencePiece only (empty for BPE)
  std::vector<GgufTokenType> types;
  std::vector<std::string> merges;  // BPE only: "left right"
  int32_t bos = -1, eos = -1, unk = -1, pad = -1;  // -1: not written
  std::optional<bool> add_bos, add_eos, add_space_prefix, remove_extra_whitespaces;
};

// A SentencePiece model (tokenizer.model): pieces, scores and piece types as
// they are; BOS/EOS/UNK/PAD as the model declares them; BOS added, no EOS,
// space prefix as the model's normalizer says.
GgufVocab vocab_from_sentencepiece(const SpmModel& model);

// A llama.cpp-style vocabulary from llama2.c's tokenizer.bin pieces: spaces
// written back as "▁", <unk>/<s>/</s> at ids 0/1/2, byte pieces <0xNN> typed BYTE.
GgufVocab vocab_from_llama2c(const std::vector<std::string>& pieces, const std::vector<float>& scores);

// A byte-level BPE tokenizer.json. `model_type` (config.json) and the
// pre-tokenizer decide tokenizer.ggml.pre; `bos`/`eos` are the ids slmkit's own
// tokenizer uses (-1: none) and `add_bos` whether it prepends BOS. Throws Error
// when the pre-tokenizer matches none llama.cpp knows (it would refuse the file
// or tokenize differently from the model's training).
GgufVocab vocab_from_tokenizer_json(const nlohmann::json& tokenizer, const std::string& model_type, int32_t bos,
                                    int32_t eos, bool add_bos, const std::string& what);

// Pads the vocabulary to the embedding's row count with "[PAD<i>]" tokens of type
// UNUSED (score −1000), as the converter does; throws Error when the tokenizer
// has more tokens than the model has embedding rows.
void pad_vocab(GgufVocab& vocab, int64_t vocab_size);

// The tokenizer.ggml.* keys of a GGUF file; throws Error naming the file and key
// when they are missing, mistyped or inconsistent (array lengths, ids).
GgufVocab vocab_from_gguf(const GgufFile& file);

// Appends the tokenizer.ggml.* keys in the converter's order.
void append_vocab_metadata(const GgufVocab& vocab, std::vector<GgufKeyValue>& metadata);

}  // namespace slmkit
