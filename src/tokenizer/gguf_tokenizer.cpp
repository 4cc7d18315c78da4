#include "tokenizer/gguf_tokenizer.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/gguf.h"
#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/spm_tokenizer.h"

namespace slmkit {
namespace {

// Llama-3's split pattern; Qwen2's is the same with single digits.
constexpr const char* kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

std::unique_ptr<Tokenizer> spm_from_vocab(const GgufVocab& v, const std::string& what) {
  SpmModel m;
  m.pieces = v.tokens;
  m.scores = v.scores;
  m.types.reserve(v.types.size());
  for (GgufTokenType t : v.types) {
    m.types.push_back(static_cast<SpmModel::PieceType>(static_cast<int32_t>(t)));
    if (t == GgufTokenType::kByte) m.byte_fallback = true;
  }
  m.algorithm = SpmModel::Algorithm::kBPE;
  m.unk_id = v.unk;
  m.bos_id = v.bos;
  m.eos_id = v.eos;
  m.pad_id = v.pad;
  m.add_dummy_prefix = v.add_space_prefix.value_or(true);
  m.remove_extra_whitespaces = v.remove_extra_whitespaces.value_or(false);
  m.normalizer_name = "identity";
  return std::make_unique<SpmTokenizer>(std::move(m), what);
}

nlohmann::json pre_tokenizer_for(const std::string& pre, const std::string& what) {
  using nlohmann::json;
  const json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}};
  auto split = [&](const char* pattern) {
    return json{{"type", "Sequence"},
                {"pretokenizers",
                 {json{{"type", "Split"}, {"pattern", {{"Regex", pattern}}}, {"behavior", "Isolated"}, {"invert", false}},
                  byte_level}}};
  };
  if (pre == "gpt-2" || pre == "default" || pre.empty())
    return {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
  if (pre == "llama-bpe" || pre == "llama3" || pre == "llama-v3") return split(kLlama3Pattern);
  if (pre == "qwen2") return split(kQwen2Pattern);
  if (pre == "smollm")
    return {{"type", "Sequence"},
            {"pretokenizers",
             {json{{"type", "Digits"}, {"individual_digits", true}},
              json{{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}}}};
  throw Error(cat(what, ": tokenizer.ggml.pre \"", pre,
                  "\" is not one slmkit can reproduce (supported: gpt-2, llama-bpe, qwen2, smollm)"));
}

std::unique_ptr<Tokenizer> bpe_from_vocab(const GgufVocab& v, const std::string& what) {
  using nlohmann::json;
  json vocab = json::object(), added = json::array();
  for (size_t id = 0; id < v.tokens.size(); ++id) {
    const GgufTokenType t = v.types[id];
    if (t == GgufTokenType::kControl || t == GgufTokenType::kUserDefined) {
      added.push_back({{"id", id}, {"content", v.tokens[id]}, {"special", t == GgufTokenType::kControl},
                       {"single_word", false}, {"lstrip", false}, {"rstrip", false}, {"normalized", false}});
    }
    if (t != GgufTokenType::kUnused) vocab[v.tokens[id]] = id;
  }
  json tokenizer = {{"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", v.merges}}},
                    {"pre_tokenizer", pre_tokenizer_for(v.pre, what)},
                    {"added_tokens", added}};
  if (v.pre == "qwen2") tokenizer["normalizer"] = {{"type", "NFC"}};
  json config = json::object();
  if (v.bos >= 0) config["bos_token"] = v.tokens[static_cast<size_t>(v.bos)];
  if (v.eos >= 0) config["eos_token"] = v.tokens[static_cast<size_t>(v.eos)];
  config["add_bos_token"] = v.add_bos.value_or(false);
  return std::make_unique<BpeTokenizer>(tokenizer, config, what);
}

}  // namespace

std::unique_ptr<Tokenizer> tokenizer_from_gguf_vocab(const GgufVocab& v, const std::string& what) {
  if (v.model == "llama") return spm_from_vocab(v, what);
  if (v.model == "gpt2") return bpe_from_vocab(v, what);
  throw Error(cat(what, ": tokenizer.ggml.model \"", v.model, "\" is not supported (llama, gpt2)"));
}

std::unique_ptr<Tokenizer> load_gguf_tokenizer(const std::string& path) {
  const GgufFile file = read_gguf(path);
  return tokenizer_from_gguf_vocab(vocab_from_gguf(file), path);
}

}  // namespace slmkit
