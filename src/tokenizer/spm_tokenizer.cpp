#include "tokenizer/spm_tokenizer.h"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <queue>
#include <utility>

#include "core/error.h"
#include "io/mapped_file.h"
#include "tokenizer/unicode_text.h"

namespace slmkit {
namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";        // U+2581 "▁"
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Byte length of the character a lead byte starts, by its high nibble, as
// libsentencepiece splits text into initial symbols (normalized text is valid
// UTF-8, so this only decides how a stray byte would be grouped).
size_t char_length(unsigned char lead) {
  const unsigned nibble = lead >> 4;
  return nibble < 0xC ? 1 : nibble < 0xE ? 2 : nibble == 0xE ? 3 : 4;
}

// Length of the valid UTF-8 character at text[pos], 0 when the bytes there are
// not one (libsentencepiece then consumes a single byte).
size_t valid_char_length(std::string_view text, size_t pos) {
  size_t end = pos;
  uint32_t codepoint = 0;
  return unicode::decode_utf8(text, end, codepoint) ? end - pos : 0;
}

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

void append_unescaped(std::string_view piece, std::string& out) {
  for (size_t i = 0; i < piece.size();) {
    if (starts_with(piece.substr(i), kSpace)) {
      out += ' ';
      i += kSpace.size();
    } else {
      out += piece[i++];
    }
  }
}

// Byte pieces decode to their bytes where these form UTF-8; every byte that
// does not becomes U+FFFD.
void flush_bytes(std::string& bytes, std::string& out) {
  for (size_t pos = 0; pos < bytes.size();) {
    const size_t n = valid_char_length(bytes, pos);
    if (n == 0) {
      out += kReplacement;
      ++pos;
    } else {
      out.append(bytes, pos, n);
      pos += n;
    }
  }
  bytes.clear();
}

}  // namespace

SpmTokenizer::SpmTokenizer(const std::string& path)
    : SpmTokenizer(parse_spm_model(read_text_file(path, Limits{}.side_file_bytes), path), path) {}

SpmTokenizer::SpmTokenizer(SpmModel model, const std::string& name) : path_(name), model_(std::move(model)) {
  const std::string& path = path_;
  SLMKIT_CHECK(model_.algorithm == SpmModel::Algorithm::kBPE, path, ": SentencePiece model type ",
               static_cast<int>(model_.algorithm), " is not supported (only BPE models, type 2, as used by Llama)");
  SLMKIT_CHECK(!model_.has_precompiled_charsmap || model_.normalizer_name == "identity", path,
               ": SentencePiece normalizer \"", model_.normalizer_name,
               "\" with a precompiled character map is not supported (Llama models use \"identity\")");
  SLMKIT_CHECK(!model_.treat_whitespace_as_suffix, path,
               ": SentencePiece models with treat_whitespace_as_suffix are not supported");
  std::fill(std::begin(byte_ids_), std::end(byte_ids_), -1);
  const int32_t n = vocab_size();
  byte_values_.assign(static_cast<size_t>(n), -1);
  piece_ids_.reserve(static_cast<size_t>(n));
  for (int32_t id = 0; id < n; ++id) {
    const std::string& p = model_.pieces[static_cast<size_t>(id)];
    const auto [it, inserted] = piece_ids_.emplace(p, id);
    SLMKIT_CHECK(inserted, path, ": piece \"", p, "\" appears twice (ids ", it->second, " and ", id,
                 "); the SentencePiece model is corrupt");
    if (type(id) == PieceType::kUserDefined) user_defined_.push_back(p);
    if (type(id) == PieceType::kByte) {
      unsigned value = 0;
      char canonical[8];
      const bool ok = std::sscanf(p.c_str(), "<0x%2X>", &value) == 1 &&
                      std::snprintf(canonical, sizeof canonical, "<0x%02X>", value) == 6 && p == canonical;
      SLMKIT_CHECK(ok, path, ": piece ", id, " \"", p, "\" has type BYTE but is not of the form <0xNN>");
      // libsentencepiece refuses these files too: byte pieces are only for fallback.
      SLMKIT_CHECK(model_.byte_fallback, path, ": piece ", id, " is the byte piece ", p,
                   " but the model's byte_fallback is off");
      byte_ids_[value] = id;
      byte_values_[static_cast<size_t>(id)] = static_cast<int16_t>(value);
    }
  }
  // Longest user-defined piece first, so a prefix never hides a longer match.
  std::sort(user_defined_.begin(), user_defined_.end(),
            [](std::string_view a, std::string_view b) { return a.size() > b.size(); });
}

std::string SpmTokenizer::describe() const {
  return cat("sentencepiece bpe, ", model_.pieces.size(), " pieces");
}

size_t SpmTokenizer::user_defined_at(std::string_view text, size_t pos) const {
  for (std::string_view u : user_defined_)
    if (starts_with(text.substr(pos), u)) return u.size();
  return 0;
}

int32_t SpmTokenizer::piece_id(std::string_view piece) const {
  const auto it = piece_ids_.find(piece);
  return it == piece_ids_.end() ? -1 : it->second;
}

// libsentencepiece's normalizer with the identity rule set (the only one we
// accept): it works unit by unit (a user-defined piece or one character), so
// squashing spaces and escaping them follow the same order here.
std::string SpmTokenizer::normalize(std::string_view text) const {
  const bool squash = model_.remove_extra_whitespaces;
  const std::string_view space = model_.escape_whitespaces ? kSpace : " ";
  size_t pos = 0;
  if (squash) pos = std::min(text.find_first_not_of(' '), text.size());
  std::string out;
  if (pos == text.size()) return out;
  out.reserve(text.size() + text.size() / 4 + 8);
  if (model_.add_dummy_prefix) out += space;
  bool prev_space = squash;
  while (pos < text.size()) {
    std::string_view unit;
    size_t length = user_defined_at(text, pos);
    if (length == 0) length = valid_char_length(text, pos);
    if (length == 0) {
      unit = kReplacement;
      length = 1;
    } else {
      unit = text.substr(pos, length);
    }
    pos += length;
    if (prev_space) unit.remove_prefix(std::min(unit.find_first_not_of(' '), unit.size()));
    if (unit.empty()) continue;
    for (char c : unit) {
      if (c == ' ') out += space;
      else out += c;
    }
    prev_space = squash && unit.back() == ' ';
  }
  // Trailing "▁" go too, also those that were in the input as "▁".
  if (squash)
    while (out.size() >= space.size() && out.compare(out.size() - space.size(), space.size(), space) == 0)
      out.resize(out.size() - space.size());
  return out;
}

void SpmTokenizer::append_symbol(std::string_view symbol, std::vector<int32_t>& out) const {
  const int32_t id = piece_id(symbol);
  if (id >= 0 && type(id) != PieceType::kUnknown) {
    out.push_back(id);
  } else if (model_.byte_fallback) {
    for (unsigned char c : symbol) out.push_back(byte_ids_[c] >= 0 ? byte_ids_[c] : model_.unk_id);
  } else if (out.empty() || out.back() != model_.unk_id) {
    out.push_back(model_.unk_id);  // a run of unknown characters is one <unk>, as in libsentencepiece
  }
}

std::vector<int32_t> SpmTokenizer::encode(std::string_view text, bool add_bos) const {
  std::vector<int32_t> out;
  if (add_bos && model_.bos_id >= 0) out.push_back(model_.bos_id);
  const std::string norm = normalize(text);
  if (norm.empty()) return out;
  const std::string_view view(norm);

  // Symbols as a doubly linked list over spans of `norm`; merged-away symbols
  // keep size 0.
  struct Symbol {
    size_t begin, size;
    int64_t prev, next;
    bool frozen;  // a user-defined piece: never merged
  };
  std::vector<Symbol> sym;
  sym.reserve(norm.size());
  for (size_t pos = 0; pos < norm.size();) {
    size_t length = user_defined_at(view, pos);
    const bool frozen = length > 0;
    if (!frozen) length = std::min(char_length(static_cast<unsigned char>(norm[pos])), norm.size() - pos);
    const int64_t index = static_cast<int64_t>(sym.size());
    sym.push_back({pos, length, index - 1, index + 1, frozen});
    pos += length;
  }
  sym.back().next = -1;
  auto span = [&](int64_t i) { return view.substr(sym[size_t(i)].begin, sym[size_t(i)].size); };

  struct Candidate {
    float score;
    int64_t left;
    size_t size;  // merged length, to detect entries made stale by a neighbour's merge
  };
  auto worse = [](const Candidate& a, const Candidate& b) {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  };
  std::priority_queue<Candidate, std::vector<Candidate>, decltype(worse)> agenda(worse);
  // Unused pieces may be formed while merging but are not output: they are
  // split back into the halves they were last formed from.
  std::unordered_map<std::string_view, std::pair<std::string_view, std::string_view>> unmerge;
  auto try_pair = [&](int64_t left) {
    if (left < 0) return;
    const int64_t right = sym[size_t(left)].next;
    if (right < 0 || sym[size_t(left)].frozen || sym[size_t(right)].frozen) return;
    const std::string_view merged = view.substr(sym[size_t(left)].begin, sym[size_t(left)].size + sym[size_t(right)].size);
    const int32_t id = piece_id(merged);
    if (id < 0) return;
    const PieceType t = type(id);
    if (t != PieceType::kNormal && t != PieceType::kUserDefined && t != PieceType::kUnused) return;
    agenda.push({model_.scores[size_t(id)], left, merged.size()});
    if (t == PieceType::kUnused) unmerge[merged] = {span(left), span(right)};
  };
  for (int64_t i = 0; i + 1 < static_cast<int64_t>(sym.size()); ++i) try_pair(i);
  while (!agenda.empty()) {
    const Candidate c = agenda.top();
    agenda.pop();
    Symbol& a = sym[size_t(c.left)];
    if (a.size == 0 || a.next < 0) continue;  // merged away
    Symbol& b = sym[size_t(a.next)];
    if (a.size + b.size != c.size) continue;  // stale
    a.size += b.size;
    b.size = 0;
    a.next = b.next;
    if (b.next >= 0) sym[size_t(b.next)].prev = c.left;
    try_pair(a.prev);
    try_pair(c.left);
  }

  std::function<void(std::string_view)> emit = [&](std::string_view symbol) {
    const int32_t id = piece_id(symbol);
    const auto it = id >= 0 && type(id) == PieceType::kUnused ? unmerge.find(symbol) : unmerge.end();
    if (it == unmerge.end()) {
      append_symbol(symbol, out);
    } else {
      emit(it->second.first);
      emit(it->second.second);
    }
  };
  for (int64_t i = 0; i >= 0; i = sym[size_t(i)].next) emit(span(i));
  return out;
}

std::string SpmTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string out, bytes;
  // The dummy prefix is not part of the text: like libsentencepiece, drop the
  // leading "▁" of the first piece that shows anything (control pieces show
  // nothing; <unk> and byte pieces count but have no "▁" to drop). A model that
  // squashes spaces drops them until some text appears: "▁" "▁" "x" → "x".
  const bool squash = model_.remove_extra_whitespaces;
  bool at_start = model_.add_dummy_prefix || squash;
  for (const int32_t id : ids) {
    SLMKIT_CHECK(id >= 0 && id < vocab_size(), "cannot decode token id ", id, ": outside [0, ",
                 vocab_size(), ") of ", path_);
    const int16_t byte = byte_values_[size_t(id)];
    if (byte >= 0) {
      bytes += static_cast<char>(byte);
      at_start = false;
      continue;
    }
    flush_bytes(bytes, out);  // any other piece, control ones too, ends a byte run
    const size_t before = out.size();
    bool dropped_space = false;
    const PieceType t = type(id);
    if (t == PieceType::kUnknown) {
      out += model_.unk_surface;
    } else if (t != PieceType::kControl) {
      std::string_view piece = model_.pieces[size_t(id)];
      dropped_space = at_start && starts_with(piece, kSpace);
      if (dropped_space) piece.remove_prefix(kSpace.size());
      append_unescaped(piece, out);
    }
    if (out.size() > before || (dropped_space && !squash)) at_start = false;
  }
  flush_bytes(bytes, out);
  return out;
}

}  // namespace slmkit
