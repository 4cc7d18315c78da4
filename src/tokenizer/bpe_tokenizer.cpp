#include "tokenizer/bpe_tokenizer.h"

#include <algorithm>
#include <filesystem>
#include <unordered_map>

#include "core/error.h"
#include "io/json.h"

namespace slmkit {
namespace {

const nlohmann::json& field_or_null(const nlohmann::json& object, const char* key) {
  static const nlohmann::json kNull;
  return object.is_object() && object.contains(key) ? object[key] : kNull;
}

std::string type_of(const nlohmann::json& spec, const std::string& where) {
  SLMKIT_CHECK(spec.is_object() && spec.contains("type") && spec["type"].is_string(), where,
               ": expected an object with a string \"type\", found ", spec.dump().substr(0, 200));
  return spec["type"].get<std::string>();
}

nlohmann::json read_config_beside(const std::string& path) {
  const std::filesystem::path config =
      std::filesystem::path(path).parent_path() / "tokenizer_config.json";
  std::error_code ec;
  if (!std::filesystem::is_regular_file(config, ec)) return nlohmann::json();
  return read_json_file(config.string());
}

}  // namespace

BpeTokenizer::BpeTokenizer(const std::string& path)
    : BpeTokenizer(read_json_file(path), read_config_beside(path), path) {}

std::unique_ptr<BpeTokenizer> BpeTokenizer::from_parsed(const nlohmann::json& tokenizer,
                                                        const std::string& path) {
  return std::make_unique<BpeTokenizer>(tokenizer, read_config_beside(path), path);
}

bool BpeTokenizer::is_byte_level_bpe(const nlohmann::json& tokenizer) {
  const nlohmann::json& model = field_or_null(tokenizer, "model");
  if (!model.is_object()) return false;
  const nlohmann::json& type = field_or_null(model, "type");
  // Older files (GPT-2) have no model.type; vocab + merges identify BPE.
  const bool bpe = type.is_null() ? model.contains("vocab") && model.contains("merges")
                                  : type.is_string() && type.get<std::string>() == "BPE";
  return bpe && PreTokenizer::contains_byte_level(field_or_null(tokenizer, "pre_tokenizer"));
}

BpeTokenizer::BpeTokenizer(const nlohmann::json& tokenizer, const nlohmann::json& config,
                           const std::string& what)
    : what_(what) {
  SLMKIT_CHECK(tokenizer.is_object() && tokenizer.contains("model"), what,
               ": not a tokenizer.json (expected an object with a \"model\" field)");
  model_ = std::make_unique<BpeModel>(tokenizer["model"], what);
  pre_tokenizer_ = std::make_unique<PreTokenizer>(field_or_null(tokenizer, "pre_tokenizer"), what);
  SLMKIT_CHECK(pre_tokenizer_->has_byte_level(), what,
               ": pre_tokenizer has no ByteLevel step, so this is not a byte-level BPE "
               "tokenizer (SentencePiece-style tokenizer.json such as Llama-2's?); use its "
               "tokenizer.model instead");
  const nlohmann::json& normalizer = field_or_null(tokenizer, "normalizer");
  if (!normalizer.is_null()) add_normalizer(normalizer, what + ": normalizer");
  added_ = AddedTokens(field_or_null(tokenizer, "added_tokens"), what);

  vocab_size_ = model_->id_limit();
  for (const AddedToken& token : added_.tokens()) vocab_size_ = std::max(vocab_size_, token.id + 1);

  read_post_processor(field_or_null(tokenizer, "post_processor"), what + ": post_processor");
  if (!config.is_null()) read_config(config, what + ": tokenizer_config.json");
  if (eos_id_ < 0) {
    // tokenizer.json does not name EOS; the end-of-text tokens of the families
    // we read, in order of preference.
    for (const char* name : {"<|endoftext|>", "<|end_of_text|>", "</s>", "<eos>", "<|im_end|>"}) {
      const AddedToken* token = added_.find_content(name);
      if (token != nullptr && token->special) {
        eos_id_ = token->id;
        break;
      }
    }
  }
}

void BpeTokenizer::add_normalizer(const nlohmann::json& spec, const std::string& where) {
  const std::string type = type_of(spec, where);
  if (type == "Sequence") {
    SLMKIT_CHECK(spec.contains("normalizers") && spec["normalizers"].is_array(), where,
                 ": Sequence needs an array \"normalizers\"");
    for (size_t i = 0; i < spec["normalizers"].size(); ++i) {
      add_normalizer(spec["normalizers"][i], cat(where, ".normalizers[", i, "]"));
    }
  } else if (type == "NFC") {
    normalizer_.push_back({NormalizerStep::kForm, unicode::NormalForm::kNFC});
  } else if (type == "NFD") {
    normalizer_.push_back({NormalizerStep::kForm, unicode::NormalForm::kNFD});
  } else if (type == "NFKC") {
    normalizer_.push_back({NormalizerStep::kForm, unicode::NormalForm::kNFKC});
  } else if (type == "NFKD") {
    normalizer_.push_back({NormalizerStep::kForm, unicode::NormalForm::kNFKD});
  } else if (type == "Lowercase") {
    normalizer_.push_back({NormalizerStep::kLowercase, unicode::NormalForm::kNFC});
  } else {
    throw Error(cat(where, ": unsupported normalizer type '", type,
                    "'; supported: NFC, NFD, NFKC, NFKD, Lowercase, Sequence"));
  }
}

void BpeTokenizer::read_post_processor(const nlohmann::json& spec, const std::string& where) {
  if (spec.is_null()) return;
  const std::string type = type_of(spec, where);
  if (type == "ByteLevel") return;  // offsets only
  if (type == "Sequence") {
    SLMKIT_CHECK(spec.contains("processors") && spec["processors"].is_array(), where,
                 ": Sequence needs an array \"processors\"");
    for (size_t i = 0; i < spec["processors"].size(); ++i) {
      read_post_processor(spec["processors"][i], cat(where, ".processors[", i, "]"));
    }
    return;
  }
  SLMKIT_CHECK(type == "TemplateProcessing", where, ": unsupported post-processor type '", type,
               "'; supported: TemplateProcessing, ByteLevel, Sequence");
  const nlohmann::json& single = field_or_null(spec, "single");
  SLMKIT_CHECK(single.is_array(), where, ".single: expected an array");
  // Only a leading special token matters to a causal LM (its BOS); tokens after
  // the sequence (sentence-pair separators) are not added by encode().
  if (single.empty() || !single[0].is_object() || !single[0].contains("SpecialToken")) return;
  const nlohmann::json& name_json = field_or_null(single[0]["SpecialToken"], "id");
  SLMKIT_CHECK(name_json.is_string(), where, ".single[0].SpecialToken.id: expected a string");
  const std::string name = name_json.get<std::string>();
  int32_t id = -1;
  const nlohmann::json& ids =
      field_or_null(field_or_null(field_or_null(spec, "special_tokens"), name.c_str()), "ids");
  if (!ids.is_null()) {
    SLMKIT_CHECK(ids.is_array() && ids.size() == 1 && ids[0].is_number_integer(), where,
                 ".special_tokens[\"", name, "\"].ids: expected exactly one integer id, found ",
                 ids.dump());
    id = ids[0].get<int32_t>();
  } else {
    id = token_id(name);
  }
  SLMKIT_CHECK(id >= 0 && id < vocab_size_, where, ": template token '", name,
               "' has no valid id (found ", id, ", vocabulary size ", vocab_size_, ")");
  bos_id_ = id;
  add_bos_by_default_ = true;
}

int32_t BpeTokenizer::config_token(const nlohmann::json& config, const char* key,
                                   const std::string& where) const {
  const nlohmann::json& entry = field_or_null(config, key);
  if (entry.is_null()) return -1;
  const nlohmann::json& content = entry.is_object() ? field_or_null(entry, "content") : entry;
  SLMKIT_CHECK(content.is_string(), where, ".", key,
               ": expected a string or {\"content\": string}, found ", entry.dump());
  const int32_t id = token_id(content.get<std::string>());
  SLMKIT_CHECK(id >= 0, where, ".", key, ": token '", content.get<std::string>(),
               "' is not in tokenizer.json");
  return id;
}

void BpeTokenizer::read_config(const nlohmann::json& config, const std::string& where) {
  SLMKIT_CHECK(config.is_object(), where, ": expected an object");
  const int32_t eos = config_token(config, "eos_token", where);
  if (eos >= 0) eos_id_ = eos;
  const int32_t bos = config_token(config, "bos_token", where);
  if (bos_id_ < 0 && bos >= 0) bos_id_ = bos;  // the post-processor's template wins
  const nlohmann::json& add_bos = field_or_null(config, "add_bos_token");
  // Only an explicit true adds anything: generic HF fast tokenizers ignore the
  // flag and follow the post-processor.
  if (add_bos.is_boolean() && add_bos.get<bool>() && bos_id_ >= 0) add_bos_by_default_ = true;
}

int32_t BpeTokenizer::token_id(const std::string& token) const {
  const AddedToken* added = added_.find_content(token);
  return added != nullptr ? added->id : model_->token_id(token);
}

std::string BpeTokenizer::normalized(std::string_view text) const {
  std::string out(text);
  for (const NormalizerStep& step : normalizer_) {
    out = step.kind == NormalizerStep::kForm ? unicode::normalize(out, step.form)
                                             : unicode::lowercase(out);
  }
  return out;
}

std::vector<int32_t> BpeTokenizer::encode(std::string_view text, bool add_bos) const {
  const size_t invalid = unicode::find_invalid_utf8(text);
  SLMKIT_CHECK(invalid == std::string_view::npos, "cannot tokenize text: invalid UTF-8 at byte ",
               invalid, " (", what_, " works on Unicode text)");
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 2);
  if (add_bos && bos_id_ >= 0) ids.push_back(bos_id_);
  // Long texts repeat most pre-tokens (words): remember their ids for this call.
  std::unordered_map<std::string, std::vector<int32_t>> piece_ids;
  std::vector<int32_t> scratch;
  for (const TextSegment& segment : added_.split(text)) {
    if (segment.token_id >= 0) {
      ids.push_back(segment.token_id);
      continue;
    }
    const std::string normal = normalized(text.substr(segment.begin, segment.end - segment.begin));
    for (std::string& piece : pre_tokenizer_->split(normal)) {
      auto it = piece_ids.find(piece);
      if (it == piece_ids.end()) {
        scratch.clear();
        model_->encode_piece(piece, scratch);
        it = piece_ids.emplace(std::move(piece), scratch).first;
      }
      ids.insert(ids.end(), it->second.begin(), it->second.end());
    }
  }
  return ids;
}

std::string BpeTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string bytes;
  for (const int32_t id : ids) {
    SLMKIT_CHECK(id >= 0 && id < vocab_size_, "cannot decode token id ", id, ": outside [0, ",
                 vocab_size_, ") of ", what_);
    if (const AddedToken* added = added_.find_id(id)) {
      if (!added->special) bytes += added->content;  // added tokens are plain text
      continue;
    }
    SLMKIT_CHECK(model_->has_id(id), "cannot decode token id ", id, ": no such token in ", what_);
    bytes += model_->id_bytes(id);
  }
  // Byte tokens can split a character; HF decodes lossily the same way.
  return unicode::repair_utf8(bytes);
}

std::string BpeTokenizer::describe() const {
  return cat("byte-level BPE (", vocab_size_, " tokens, ", model_->merge_count(), " merges)");
}

}  // namespace slmkit
