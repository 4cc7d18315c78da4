#include "tokenizer/gguf_vocab.h"

#include <map>

#include "core/error.h"

namespace slmkit {
namespace {

constexpr std::string_view kSpaceMark = "\xE2\x96\x81";  // "▁", SentencePiece's space
constexpr float kAddedTokenScore = -1000.0f;            // the converter's score for added/padding tokens

GgufTokenType token_type_of(SpmModel::PieceType t) {
  switch (t) {
    case SpmModel::PieceType::kNormal: return GgufTokenType::kNormal;
    case SpmModel::PieceType::kUnknown: return GgufTokenType::kUnknown;
    case SpmModel::PieceType::kControl: return GgufTokenType::kControl;
    case SpmModel::PieceType::kUserDefined: return GgufTokenType::kUserDefined;
    case SpmModel::PieceType::kUnused: return GgufTokenType::kUnused;
    case SpmModel::PieceType::kByte: return GgufTokenType::kByte;
  }
  return GgufTokenType::kNormal;
}

bool is_byte_piece(const std::string& p) {
  auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); };
  return p.size() == 6 && p.compare(0, 3, "<0x") == 0 && hex(p[3]) && hex(p[4]) && p[5] == '>';
}

// One pre-tokenizer step as far as choosing llama.cpp's name goes.
struct PreStep {
  std::string type;
  std::string regex;          // Split
  bool use_regex = true;      // ByteLevel
  bool individual = false;    // Digits
};

void collect_steps(const nlohmann::json& spec, std::vector<PreStep>& out, const std::string& what) {
  if (spec.is_null()) return;
  SLMKIT_CHECK(spec.is_object() && spec.contains("type") && spec["type"].is_string(), what,
               ": pre_tokenizer must be an object with a \"type\"");
  const std::string type = spec["type"].get<std::string>();
  if (type == "Sequence") {
    SLMKIT_CHECK(spec.contains("pretokenizers") && spec["pretokenizers"].is_array(), what,
                 ": Sequence pre_tokenizer needs a \"pretokenizers\" array");
    for (const auto& s : spec["pretokenizers"]) collect_steps(s, out, what);
    return;
  }
  PreStep step;
  step.type = type;
  if (type == "Split" && spec.contains("pattern") && spec["pattern"].is_object()) {
    const auto& p = spec["pattern"];
    if (p.contains("Regex") && p["Regex"].is_string()) step.regex = p["Regex"].get<std::string>();
    else if (p.contains("String") && p["String"].is_string()) step.regex = p["String"].get<std::string>();
  }
  if (type == "ByteLevel" && spec.contains("use_regex") && spec["use_regex"].is_boolean())
    step.use_regex = spec["use_regex"].get<bool>();
  if (type == "Digits" && spec.contains("individual_digits") && spec["individual_digits"].is_boolean())
    step.individual = spec["individual_digits"].get<bool>();
  out.push_back(step);
}

// llama.cpp picks its pre-tokenizer by hashing the HF tokenization of a probe
// text (convert_hf_to_gguf.py get_vocab_base_pre); slmkit has no HF tokenizers,
// so it recognises the families by their pre-tokenizer instead.
std::string bpe_pre_name(const nlohmann::json& tokenizer, const std::string& model_type, const std::string& what) {
  std::vector<PreStep> steps;
  collect_steps(tokenizer.contains("pre_tokenizer") ? tokenizer["pre_tokenizer"] : nlohmann::json(), steps, what);
  auto is = [&](size_t i, const char* type) { return i < steps.size() && steps[i].type == type; };
  if (steps.size() == 1 && is(0, "ByteLevel") && steps[0].use_regex) return "gpt-2";
  if (steps.size() == 2 && is(0, "Digits") && steps[0].individual && is(1, "ByteLevel") && steps[1].use_regex)
    return "smollm";
  if (steps.size() == 2 && is(0, "Split") && is(1, "ByteLevel") && !steps[1].use_regex) {
    const std::string& re = steps[0].regex;
    const bool llama3_family = re.find("(?i:'s|'t|'re|'ve|'m|'ll|'d)") != std::string::npos;
    if (llama3_family && re.find("\\p{N}{1,3}") != std::string::npos) return "llama-bpe";
    if (llama3_family && re.find("\\p{N}{1,3}") == std::string::npos && model_type == "qwen2") return "qwen2";
  }
  std::string found;
  for (const PreStep& s : steps) found += (found.empty() ? "" : " + ") + s.type;
  throw Error(cat(what, ": cannot tell which llama.cpp pre-tokenizer matches this tokenizer.json (steps: ",
                  found.empty() ? "none" : found, ", model_type ", model_type,
                  "); slmkit knows gpt-2, smollm, llama-bpe (Llama-3) and qwen2. Writing another name would make ",
                  "llama.cpp tokenize differently from the model's training."));
}

}  // namespace

GgufVocab vocab_from_sentencepiece(const SpmModel& m) {
  GgufVocab v;
  v.model = "llama";
  v.pre = "default";
  v.tokens = m.pieces;
  v.scores = m.scores;
  v.types.reserve(m.types.size());
  for (SpmModel::PieceType t : m.types) v.types.push_back(token_type_of(t));
  v.bos = m.bos_id;
  v.eos = m.eos_id;
  v.unk = m.unk_id;
  v.pad = m.pad_id;
  v.add_bos = true;
  v.add_eos = false;
  v.add_space_prefix = m.add_dummy_prefix;
  v.remove_extra_whitespaces = m.remove_extra_whitespaces;
  return v;
}

GgufVocab vocab_from_llama2c(const std::vector<std::string>& pieces, const std::vector<float>& scores) {
  SLMKIT_CHECK(pieces.size() == scores.size() && pieces.size() >= 3, "llama2.c tokenizer: expected at least ",
               "<unk>, <s>, </s> and one score per piece");
  GgufVocab v;
  v.model = "llama";
  v.pre = "default";
  v.scores = scores;
  for (size_t id = 0; id < pieces.size(); ++id) {
    std::string piece;
    for (char c : pieces[id]) {
      if (c == ' ') piece += kSpaceMark;
      else piece += c;
    }
    GgufTokenType type = GgufTokenType::kNormal;
    if (id == 0) type = GgufTokenType::kUnknown;
    else if (id <= 2) type = GgufTokenType::kControl;
    else if (is_byte_piece(piece)) type = GgufTokenType::kByte;
    v.tokens.push_back(piece);
    v.types.push_back(type);
  }
  v.unk = 0;
  v.bos = 1;
  v.eos = 2;
  v.add_bos = true;
  v.add_eos = false;
  v.add_space_prefix = true;
  return v;
}

GgufVocab vocab_from_tokenizer_json(const nlohmann::json& tokenizer, const std::string& model_type, int32_t bos,
                                    int32_t eos, bool add_bos, const std::string& what) {
  SLMKIT_CHECK(tokenizer.is_object() && tokenizer.contains("model") && tokenizer["model"].is_object(), what,
               ": no \"model\" object");
  const nlohmann::json& model = tokenizer["model"];
  SLMKIT_CHECK(!model.contains("type") || model["type"] == "BPE", what, ": model type ", model.value("type", ""),
               " is not BPE; GGUF export reads byte-level BPE tokenizer.json files (and SentencePiece tokenizer.model)");
  SLMKIT_CHECK(model.contains("vocab") && model["vocab"].is_object(), what, ": model.vocab must be an object");
  GgufVocab v;
  v.model = "gpt2";
  v.pre = bpe_pre_name(tokenizer, model_type, what);
  std::map<int64_t, std::string> by_id;
  std::map<int64_t, bool> special;  // added tokens: id → special
  for (const auto& [token, id] : model["vocab"].items()) {
    SLMKIT_CHECK(id.is_number_integer() && id.get<int64_t>() >= 0, what, ": vocab id of \"", token, "\" is not a ",
                 "non-negative integer");
    by_id[id.get<int64_t>()] = token;
  }
  if (tokenizer.contains("added_tokens") && tokenizer["added_tokens"].is_array()) {
    for (const auto& t : tokenizer["added_tokens"]) {
      SLMKIT_CHECK(t.is_object() && t.contains("id") && t["id"].is_number_integer() && t.contains("content") &&
                       t["content"].is_string(),
                   what, ": added_tokens entries need an integer \"id\" and a string \"content\"");
      const int64_t id = t["id"].get<int64_t>();
      SLMKIT_CHECK(id >= 0, what, ": added token id ", id, " is negative");
      by_id[id] = t["content"].get<std::string>();
      special[id] = t.value("special", false);
    }
  }
  const int64_t n = by_id.empty() ? 0 : by_id.rbegin()->first + 1;
  for (int64_t id = 0; id < n; ++id) {
    auto it = by_id.find(id);
    if (it == by_id.end()) {  // a hole in the ids: the converter's padding token
      v.tokens.push_back("[PAD" + std::to_string(id) + "]");
      v.types.push_back(GgufTokenType::kUnused);
      continue;
    }
    v.tokens.push_back(it->second);
    auto sp = special.find(id);
    v.types.push_back(sp == special.end() ? GgufTokenType::kNormal
                                          : sp->second ? GgufTokenType::kControl : GgufTokenType::kUserDefined);
  }
  if (model.contains("merges") && model["merges"].is_array()) {
    for (const auto& m : model["merges"]) {
      if (m.is_string()) {
        v.merges.push_back(m.get<std::string>());
      } else {
        SLMKIT_CHECK(m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string(), what,
                     ": merges must be \"a b\" strings or [\"a\", \"b\"] pairs");
        v.merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
      }
    }
  }
  SLMKIT_CHECK(!v.merges.empty(), what, ": no merges; llama.cpp refuses a gpt2 tokenizer without merges");
  v.bos = bos;
  v.eos = eos;
  v.add_bos = add_bos;
  v.add_eos = false;
  return v;
}

void pad_vocab(GgufVocab& v, int64_t vocab_size) {
  const int64_t n = static_cast<int64_t>(v.tokens.size());
  SLMKIT_CHECK(n <= vocab_size, "the tokenizer has ", n, " tokens but the model's embedding has only ", vocab_size,
               " rows; llama.cpp needs one embedding row per token (wrong tokenizer for this model?)");
  for (int64_t id = n; id < vocab_size; ++id) {
    v.tokens.push_back("[PAD" + std::to_string(id) + "]");
    v.types.push_back(GgufTokenType::kUnused);
    if (!v.scores.empty()) v.scores.push_back(kAddedTokenScore);
  }
}

void append_vocab_metadata(const GgufVocab& v, std::vector<GgufKeyValue>& md) {
  SLMKIT_ASSERT(v.types.size() == v.tokens.size() && (v.scores.empty() || v.scores.size() == v.tokens.size()),
                "vocabulary arrays differ in length");
  md.push_back({"tokenizer.ggml.model", GgufValue::string(v.model)});
  md.push_back({"tokenizer.ggml.pre", GgufValue::string(v.pre)});
  md.push_back({"tokenizer.ggml.tokens", GgufValue::string_array(v.tokens)});
  if (!v.scores.empty()) md.push_back({"tokenizer.ggml.scores", GgufValue::f32_array(v.scores)});
  std::vector<int32_t> types;
  types.reserve(v.types.size());
  for (GgufTokenType t : v.types) types.push_back(static_cast<int32_t>(t));
  md.push_back({"tokenizer.ggml.token_type", GgufValue::i32_array(types)});
  if (!v.merges.empty()) md.push_back({"tokenizer.ggml.merges", GgufValue::string_array(v.merges)});
  const int64_t n = static_cast<int64_t>(v.tokens.size());
  auto add_id = [&](const char* key, int32_t id) {
    if (id < 0) return;
    SLMKIT_CHECK(id < n, "tokenizer special token ", key, " = ", id, " is outside the vocabulary of ", n, " tokens");
    md.push_back({std::string("tokenizer.ggml.") + key, GgufValue::u32(static_cast<uint32_t>(id))});
  };
  add_id("bos_token_id", v.bos);
  add_id("eos_token_id", v.eos);
  add_id("unknown_token_id", v.unk);
  add_id("padding_token_id", v.pad);
  if (v.add_bos) md.push_back({"tokenizer.ggml.add_bos_token", GgufValue::boolean(*v.add_bos)});
  if (v.add_eos) md.push_back({"tokenizer.ggml.add_eos_token", GgufValue::boolean(*v.add_eos)});
  if (v.add_space_prefix) md.push_back({"tokenizer.ggml.add_space_prefix", GgufValue::boolean(*v.add_space_prefix)});
  if (v.remove_extra_whitespaces)
    md.push_back({"tokenizer.ggml.remove_extra_whitespaces", GgufValue::boolean(*v.remove_extra_whitespaces)});
}

GgufVocab vocab_from_gguf(const GgufFile& f) {
  GgufVocab v;
  v.model = f.get_string("tokenizer.ggml.model");
  SLMKIT_CHECK(v.model == "llama" || v.model == "gpt2", f.path, ": tokenizer.ggml.model \"", v.model,
               "\" is not supported (slmkit reads llama = SentencePiece and gpt2 = byte-level BPE)");
  if (f.find("tokenizer.ggml.pre")) v.pre = f.get_string("tokenizer.ggml.pre");
  v.tokens = f.get_strings("tokenizer.ggml.tokens");
  const size_t n = v.tokens.size();
  auto numeric_array = [&](const char* key, GgufType type) -> const GgufValue* {
    const GgufValue* value = f.find(key);
    if (value == nullptr) return nullptr;
    SLMKIT_CHECK(value->type() == GgufType::ARRAY && value->element_type() == type && value->size() == n, f.path,
                 ": ", key, " must be an array of ", gguf_type_name(type), " with one entry per token (", n, ")");
    return value;
  };
  if (const GgufValue* scores = numeric_array("tokenizer.ggml.scores", GgufType::F32)) {
    v.scores.reserve(n);
    for (uint64_t i = 0; i < n; ++i) v.scores.push_back(static_cast<float>(scores->element(i).as_float()));
  }
  const GgufValue* types = numeric_array("tokenizer.ggml.token_type", GgufType::I32);
  v.types.assign(n, GgufTokenType::kNormal);
  for (uint64_t i = 0; types != nullptr && i < n; ++i) {
    const int64_t t = types->element(i).as_int();
    SLMKIT_CHECK(t >= 1 && t <= 6, f.path, ": tokenizer.ggml.token_type[", i, "] = ", t, " is not a token type (1..6)");
    v.types[i] = static_cast<GgufTokenType>(t);
  }
  if (v.model == "llama") {
    SLMKIT_CHECK(!v.scores.empty(), f.path, ": a SentencePiece (llama) vocabulary needs tokenizer.ggml.scores");
  } else {
    v.merges = f.get_strings("tokenizer.ggml.merges");
  }
  auto id = [&](const char* key) -> int32_t {
    const std::string full = std::string("tokenizer.ggml.") + key;
    if (!f.find(full)) return -1;
    const uint64_t value = f.get_uint(full);
    SLMKIT_CHECK(value < n, f.path, ": ", full, " = ", value, " is outside the vocabulary of ", n, " tokens");
    return static_cast<int32_t>(value);
  };
  v.bos = id("bos_token_id");
  v.eos = id("eos_token_id");
  v.unk = id("unknown_token_id");
  v.pad = id("padding_token_id");
  auto flag = [&](const char* key, std::optional<bool>& out) {
    const std::string full = std::string("tokenizer.ggml.") + key;
    if (f.find(full)) out = f.get_bool(full);
  };
  flag("add_bos_token", v.add_bos);
  flag("add_eos_token", v.add_eos);
  flag("add_space_prefix", v.add_space_prefix);
  flag("remove_extra_whitespaces", v.remove_extra_whitespaces);
  return v;
}

}  // namespace slmkit
