#include "tokenizer/bpe_model.h"

#include <algorithm>
#include <queue>

#include "core/error.h"
#include "core/limits.h"
#include "tokenizer/byte_level.h"

namespace slmkit {
namespace {

constexpr int64_t kMaxTokenId = (int64_t{1} << 31) - 1;

std::string string_or_null(const nlohmann::json& model, const char* key, const std::string& where) {
  if (!model.contains(key) || model[key].is_null()) return std::string();
  SLMKIT_CHECK(model[key].is_string(), where, ".", key, ": expected a string or null, found ",
               model[key].dump());
  return model[key].get<std::string>();
}

bool bool_or_false(const nlohmann::json& model, const char* key, const std::string& where) {
  if (!model.contains(key) || model[key].is_null()) return false;
  SLMKIT_CHECK(model[key].is_boolean(), where, ".", key, ": expected a boolean, found ",
               model[key].dump());
  return model[key].get<bool>();
}

}  // namespace

BpeModel::BpeModel(const nlohmann::json& model, const std::string& what) {
  const std::string where = what + ": model";
  SLMKIT_CHECK(model.is_object(), where, ": expected an object, found ", model.type_name());
  if (model.contains("type")) {
    SLMKIT_CHECK(model["type"].is_string(), where, ".type: expected a string, found ",
                 model["type"].dump());
    const std::string type = model["type"].get<std::string>();
    SLMKIT_CHECK(type == "BPE", "unknown model type '", type, "' in ", what,
                 " (model.type); expected BPE (byte-level BPE tokenizer.json). For a "
                 "SentencePiece model (Unigram/WordPiece/...) pass tokenizer.model instead");
  }
  SLMKIT_CHECK(model.contains("vocab") && model["vocab"].is_object(), where,
               ".vocab: expected an object {token: id}");
  SLMKIT_CHECK(model.contains("merges") && model["merges"].is_array(), where,
               ".merges: expected an array");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    const std::string affix = string_or_null(model, key, where);
    SLMKIT_CHECK(affix.empty(), where, ".", key, ": '", affix,
                 "' is not supported (byte-level BPE uses none)");
  }
  ignore_merges_ = bool_or_false(model, "ignore_merges", where);
  fuse_unk_ = bool_or_false(model, "fuse_unk", where);

  int64_t max_id = -1;
  for (const auto& [token, id_json] : model["vocab"].items()) {
    SLMKIT_CHECK(id_json.is_number_integer(), where, ".vocab[\"", token,
                 "\"]: expected an integer id, found ", id_json.dump());
    const int64_t id = id_json.get<int64_t>();
    SLMKIT_CHECK(id >= 0 && id <= kMaxTokenId, where, ".vocab[\"", token,
                 "\"]: id out of range: ", id);
    token_to_id_.emplace(token, static_cast<int32_t>(id));
    max_id = std::max(max_id, id);
  }
  // Ids may leave holes (decode refuses them), but the tables below are sized by
  // the largest id, so it is bounded: a tiny file must not make us allocate GiBs.
  SLMKIT_CHECK(static_cast<uint64_t>(max_id) < Limits{}.vocab_size, where, ".vocab: largest id ", max_id,
               " is implausible for ", token_to_id_.size(), " tokens (Limits::vocab_size ", Limits{}.vocab_size,
               ")");
  id_to_bytes_.assign(static_cast<size_t>(max_id + 1), std::string());
  has_id_.assign(static_cast<size_t>(max_id + 1), false);
  std::fill(std::begin(byte_ids_), std::end(byte_ids_), -1);
  for (const auto& [token, id] : token_to_id_) {
    SLMKIT_CHECK(!has_id_[id], where, ".vocab: id ", id, " is used by two tokens (one is '", token,
                 "')");
    has_id_[id] = true;
    std::optional<std::string> bytes = byte_level::decode(token);
    if (bytes) {
      if (bytes->size() == 1) byte_ids_[static_cast<uint8_t>((*bytes)[0])] = id;
      bytes_to_id_.emplace(*bytes, id);
      id_to_bytes_[id] = std::move(*bytes);
    } else {
      id_to_bytes_[id] = token;  // not byte-level text (e.g. "<|endoftext|>"-like extras)
    }
  }
  const std::string unk = string_or_null(model, "unk_token", where);
  if (!unk.empty()) {
    unk_id_ = token_id(unk);
    SLMKIT_CHECK(unk_id_ >= 0, where, ".unk_token: '", unk, "' is not in the vocabulary");
  }
  load_merges(model["merges"], where + ".merges");
}

void BpeModel::load_merges(const nlohmann::json& merges, const std::string& where) {
  merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& entry = merges[rank];
    std::string left, right;
    if (entry.is_string()) {  // "a b" (tokenizers < 0.20)
      const std::string text = entry.get<std::string>();
      const size_t space = text.find(' ');
      SLMKIT_CHECK(space != std::string::npos && text.find(' ', space + 1) == std::string::npos,
                   where, "[", rank, "]: expected \"left right\" with exactly one space, found \"",
                   text, "\"");
      left = text.substr(0, space);
      right = text.substr(space + 1);
    } else if (entry.is_array() && entry.size() == 2 && entry[0].is_string() &&
               entry[1].is_string()) {  // ["a", "b"] (tokenizers >= 0.20)
      left = entry[0].get<std::string>();
      right = entry[1].get<std::string>();
    } else {
      throw Error(cat(where, "[", rank, "]: expected \"a b\" or [\"a\", \"b\"], found ",
                      entry.dump().substr(0, 200)));
    }
    const int32_t left_id = token_id(left), right_id = token_id(right);
    const int32_t merged_id = token_id(left + right);
    SLMKIT_CHECK(left_id >= 0 && right_id >= 0 && merged_id >= 0, where, "[", rank, "]: merge '",
                 left, "' + '", right, "' uses a token missing from model.vocab ('",
                 left_id < 0    ? left
                 : right_id < 0 ? right
                                : left + right,
                 "')");
    // A repeated pair keeps its first (best) rank.
    merges_.emplace(pair_key(left_id, right_id), Merge{static_cast<int32_t>(rank), merged_id});
  }
}

int32_t BpeModel::token_id(const std::string& token) const {
  const auto it = token_to_id_.find(token);
  return it == token_to_id_.end() ? -1 : it->second;
}

void BpeModel::encode_piece(std::string_view bytes, std::vector<int32_t>& out) const {
  if (ignore_merges_) {
    const auto it = bytes_to_id_.find(std::string(bytes));
    if (it != bytes_to_id_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  std::vector<int32_t> symbols;
  symbols.reserve(bytes.size());
  bool previous_unknown = false;
  for (const char c : bytes) {
    const int32_t id = byte_ids_[static_cast<uint8_t>(c)];
    if (id >= 0) {
      symbols.push_back(id);
      previous_unknown = false;
    } else if (unk_id_ >= 0) {  // like HF: unknown bytes become unk (fused if asked)
      if (!(fuse_unk_ && previous_unknown)) symbols.push_back(unk_id_);
      previous_unknown = true;
    }  // with no unk token HF drops the byte; every real byte-level vocab has all 256
  }
  merge_symbols(symbols);
  out.insert(out.end(), symbols.begin(), symbols.end());
}

void BpeModel::merge_symbols(std::vector<int32_t>& symbols) const {
  const int32_t count = static_cast<int32_t>(symbols.size());
  if (count < 2) return;
  // Doubly linked list over the symbols; merged-away symbols get id -1.
  std::vector<int32_t> prev(count), next(count);
  for (int32_t i = 0; i < count; ++i) {
    prev[i] = i - 1;
    next[i] = i + 1 < count ? i + 1 : -1;
  }
  struct Candidate {
    int32_t rank, position, left_id, right_id, merged_id;
  };
  // Lowest rank first; among equal ranks the leftmost pair (HF and llama.cpp).
  const auto later = [](const Candidate& a, const Candidate& b) {
    return a.rank != b.rank ? a.rank > b.rank : a.position > b.position;
  };
  std::priority_queue<Candidate, std::vector<Candidate>, decltype(later)> queue(later);
  const auto push_pair = [&](int32_t left) {
    if (left < 0 || next[left] < 0) return;
    const int32_t right = next[left];
    const auto it = merges_.find(pair_key(symbols[left], symbols[right]));
    if (it != merges_.end()) {
      queue.push({it->second.rank, left, symbols[left], symbols[right], it->second.merged});
    }
  };
  for (int32_t i = 0; i + 1 < count; ++i) push_pair(i);
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    const int32_t left = top.position;
    // Stale when either side was merged since the candidate was queued.
    if (symbols[left] != top.left_id || next[left] < 0 || symbols[next[left]] != top.right_id) {
      continue;
    }
    const int32_t right = next[left];
    symbols[left] = top.merged_id;
    symbols[right] = -1;
    next[left] = next[right];
    if (next[left] >= 0) prev[next[left]] = left;
    push_pair(prev[left]);
    push_pair(left);
  }
  int32_t kept = 0;
  for (int32_t i = 0; i >= 0; i = next[i]) symbols[kept++] = symbols[i];
  symbols.resize(kept);
}

}  // namespace slmkit
