// A Tokenizer built from the vocabulary stored in a GGUF file, so that a GGUF
// model can be evaluated on its own (`slmkit eval model.gguf`).
//   tokenizer.ggml.model "llama" → SentencePiece BPE (pieces, scores, types;
//     byte fallback when byte pieces exist; dummy prefix from add_space_prefix;
//     extra spaces squashed only when remove_extra_whitespaces says so, as
//     llama.cpp's SentencePiece tokenizer never does it on its own)
//   tokenizer.ggml.model "gpt2" → byte-level BPE with the pre-tokenizer that
//     tokenizer.ggml.pre names (gpt-2, llama-bpe, qwen2, smollm)
#pragma once

#include <memory>
#include <string>

#include "tokenizer/gguf_vocab.h"
#include "tokenizer/tokenizer.h"

namespace slmkit {

// `what` names the source in errors. Throws Error for vocabularies it cannot run.
std::unique_ptr<Tokenizer> tokenizer_from_gguf_vocab(const GgufVocab& vocab, const std::string& what);

// Reads the GGUF file's metadata (not its tensors) and builds its tokenizer.
std::unique_ptr<Tokenizer> load_gguf_tokenizer(const std::string& path);

}  // namespace slmkit
