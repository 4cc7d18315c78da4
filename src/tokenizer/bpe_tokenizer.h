// Hugging Face tokenizer.json with a byte-level BPE model (GPT-2, Llama-3,
// Qwen2, SmolLM, ...). Pipeline as in HF tokenizers: added tokens are cut out
// of the raw text, each remaining segment is normalized (NFC/NFD/NFKC/NFKD,
// Lowercase, Sequence), pre-tokenized (ByteLevel/Split/Digits/Sequence) and
// BPE-encoded piece by piece. BOS comes from a TemplateProcessing
// post-processor whose single template starts with a special token; a
// tokenizer_config.json beside the file, when present, names BOS/EOS too.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe_model.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode_text.h"

namespace slmkit {

class BpeTokenizer : public Tokenizer {
 public:
  // Reads `path` (tokenizer.json) and, if present, tokenizer_config.json in the
  // same directory. Throws Error naming the file and field on anything
  // unsupported or inconsistent.
  explicit BpeTokenizer(const std::string& path);
  // From parsed JSON; `config` is tokenizer_config.json or null; `what` names
  // the source in errors.
  BpeTokenizer(const nlohmann::json& tokenizer, const nlohmann::json& config,
               const std::string& what);

  // From an already parsed `path`, reading tokenizer_config.json beside it.
  static std::unique_ptr<BpeTokenizer> from_parsed(const nlohmann::json& tokenizer,
                                                   const std::string& path);

  // Whether a parsed tokenizer.json is byte-level BPE (what this class reads).
  static bool is_byte_level_bpe(const nlohmann::json& tokenizer);

  std::vector<int32_t> encode(std::string_view text, bool add_bos) const override;
  std::string decode(const std::vector<int32_t>& ids) const override;
  int32_t vocab_size() const override { return vocab_size_; }
  int32_t bos_id() const override { return bos_id_; }
  int32_t eos_id() const override { return eos_id_; }
  bool add_bos_by_default() const override { return add_bos_by_default_; }
  std::string describe() const override;

  // The id of a token given as written in the file (added tokens included), or -1.
  int32_t token_id(const std::string& token) const;

 private:
  struct NormalizerStep {
    enum Kind { kForm, kLowercase } kind;
    unicode::NormalForm form;
  };
  void add_normalizer(const nlohmann::json& spec, const std::string& where);
  void read_post_processor(const nlohmann::json& spec, const std::string& where);
  void read_config(const nlohmann::json& config, const std::string& where);
  std::string normalized(std::string_view text) const;
  // Resolves a BOS/EOS entry of tokenizer_config.json (string or {"content": ...}).
  int32_t config_token(const nlohmann::json& config, const char* key,
                       const std::string& where) const;

  std::string what_;
  std::vector<NormalizerStep> normalizer_;
  AddedTokens added_;
  std::unique_ptr<PreTokenizer> pre_tokenizer_;
  std::unique_ptr<BpeModel> model_;
  int32_t vocab_size_ = 0;
  int32_t bos_id_ = -1;
  int32_t eos_id_ = -1;
  bool add_bos_by_default_ = false;
};

}  // namespace slmkit
