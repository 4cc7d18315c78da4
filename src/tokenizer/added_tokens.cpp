#include "tokenizer/added_tokens.h"

#include <algorithm>

#include "core/error.h"
#include "tokenizer/unicode_text.h"

namespace slmkit {
namespace {

bool get_bool(const nlohmann::json& entry, const char* key, const std::string& where) {
  if (!entry.contains(key) || entry[key].is_null()) return false;
  SLMKIT_CHECK(entry[key].is_boolean(), where, ".", key, ": expected a boolean, found ",
               entry[key].dump());
  return entry[key].get<bool>();
}

// The code point ending just before byte `pos` (pos > 0, valid UTF-8).
uint32_t codepoint_before(std::string_view text, size_t pos) {
  size_t start = pos - 1;
  while (start > 0 && (static_cast<uint8_t>(text[start]) & 0xC0) == 0x80) --start;
  uint32_t codepoint = 0;
  return unicode::decode_utf8(text, start, codepoint) ? codepoint : 0;
}

uint32_t codepoint_at(std::string_view text, size_t pos) {
  uint32_t codepoint = 0;
  return unicode::decode_utf8(text, pos, codepoint) ? codepoint : 0;
}

}  // namespace

AddedTokens::AddedTokens(const nlohmann::json& spec, const std::string& what) {
  if (spec.is_null()) return;
  SLMKIT_CHECK(spec.is_array(), what, ": added_tokens: expected an array, found ",
               spec.type_name());
  for (size_t i = 0; i < spec.size(); ++i) {
    const auto& entry = spec[i];
    const std::string where = cat(what, ": added_tokens[", i, "]");
    SLMKIT_CHECK(entry.is_object() && entry.contains("id") && entry["id"].is_number_integer() &&
                     entry.contains("content") && entry["content"].is_string(),
                 where, ": expected {\"id\": integer, \"content\": string, ...}, found ",
                 entry.dump().substr(0, 200));
    AddedToken token;
    const int64_t id = entry["id"].get<int64_t>();
    SLMKIT_CHECK(id >= 0 && id < (int64_t{1} << 31), where, ".id: out of range: ", id);
    token.id = static_cast<int32_t>(id);
    token.content = entry["content"].get<std::string>();
    SLMKIT_CHECK(!token.content.empty(), where, ".content: empty");
    SLMKIT_CHECK(unicode::find_invalid_utf8(token.content) == std::string::npos, where,
                 ".content: not valid UTF-8");
    token.special = get_bool(entry, "special", where);
    token.single_word = get_bool(entry, "single_word", where);
    token.lstrip = get_bool(entry, "lstrip", where);
    token.rstrip = get_bool(entry, "rstrip", where);
    SLMKIT_CHECK(by_id_.emplace(token.id, tokens_.size()).second, where, ".id: duplicate id ",
                 token.id);
    tokens_.push_back(std::move(token));
  }
  for (size_t i = 0; i < tokens_.size(); ++i) {
    by_first_byte_[static_cast<uint8_t>(tokens_[i].content[0])].push_back(i);
  }
  for (auto& candidates : by_first_byte_) {
    std::stable_sort(candidates.begin(), candidates.end(), [this](size_t a, size_t b) {
      return tokens_[a].content.size() > tokens_[b].content.size();
    });
  }
}

const AddedToken* AddedTokens::find_id(int32_t id) const {
  const auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

const AddedToken* AddedTokens::find_content(std::string_view content) const {
  if (content.empty()) return nullptr;
  for (const size_t i : by_first_byte_[static_cast<uint8_t>(content[0])]) {
    if (tokens_[i].content == content) return &tokens_[i];
  }
  return nullptr;
}

std::vector<TextSegment> AddedTokens::split(std::string_view text) const {
  std::vector<TextSegment> segments;
  size_t text_start = 0;  // start of the pending plain-text segment
  size_t pos = 0;
  while (pos < text.size()) {
    const auto& candidates = by_first_byte_[static_cast<uint8_t>(text[pos])];
    const AddedToken* match = nullptr;
    for (const size_t i : candidates) {
      const std::string& content = tokens_[i].content;
      if (text.compare(pos, content.size(), content) == 0) {
        match = &tokens_[i];
        break;
      }
    }
    if (match == nullptr) {
      ++pos;
      continue;
    }
    size_t begin = pos, end = pos + match->content.size();
    if (match->single_word) {
      const bool space_before =
          begin == 0 || !unicode::is_word_character(codepoint_before(text, begin));
      const bool space_after =
          end == text.size() || !unicode::is_word_character(codepoint_at(text, end));
      if (!space_before || !space_after) {  // inside a word: the text stays plain
        pos = end;
        continue;
      }
    }
    if (match->lstrip) {
      while (begin > text_start && unicode::is_whitespace(codepoint_before(text, begin))) {
        do --begin;
        while ((static_cast<uint8_t>(text[begin]) & 0xC0) == 0x80);
      }
    }
    const size_t token_end = end;
    if (match->rstrip) {
      size_t next = end;
      uint32_t codepoint = 0;
      while (next < text.size() && unicode::decode_utf8(text, next, codepoint) &&
             unicode::is_whitespace(codepoint)) {
        end = next;
      }
    }
    if (begin > text_start) segments.push_back({text_start, begin, -1});
    segments.push_back({pos, token_end, match->id});
    text_start = pos = end;
  }
  if (text_start < text.size()) segments.push_back({text_start, text.size(), -1});
  return segments;
}

}  // namespace slmkit
