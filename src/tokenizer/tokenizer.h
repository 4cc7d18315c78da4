// Text <-> token ids. Free of LibTorch (the edge runtime links it).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace slmkit {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Encodes `text`. With add_bos, prepends BOS when the tokenizer has one
  // (callers use add_bos_by_default() to follow the model's convention).
  virtual std::vector<int32_t> encode(std::string_view text, bool add_bos) const = 0;
  // Decodes ids to UTF-8 text (special tokens such as BOS/EOS are skipped).
  virtual std::string decode(const std::vector<int32_t>& ids) const = 0;

  virtual int32_t vocab_size() const = 0;
  virtual int32_t bos_id() const = 0;  // -1 when there is none
  virtual int32_t eos_id() const = 0;  // -1 when there is none
  // Whether the model family expects a BOS at the start of a text (Llama-2
  // SentencePiece: yes; GPT-2: no; Llama-3: yes via its post-processor).
  virtual bool add_bos_by_default() const = 0;
  // Short description for logs: "sentencepiece bpe, 32000 pieces".
  virtual std::string describe() const = 0;
};

// Loads a tokenizer from a model directory (tokenizer.json preferred when it is
// byte-level BPE, else tokenizer.model) or from a file path: *.model
// (SentencePiece), *.json (HF tokenizer.json), *.bin (llama2.c tokenizer), *.gguf
// (the vocabulary stored in a GGUF model).
// Throws Error naming what was looked for when nothing usable is found.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path);

}  // namespace slmkit
