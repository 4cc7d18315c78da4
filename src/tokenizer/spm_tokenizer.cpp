#include "tokenizer/spm_tokenizer.h"

#include <algorithm>
#include <cstdio>
#include <queue>

#include "core/error.h"
#include "io/mapped_file.h"

namespace slmkit {
namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581 "▁"

size_t utf8_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead >> 5) == 0x6) return 2;
  if ((lead >> 4) == 0xE) return 3;
  if ((lead >> 3) == 0x1E) return 4;
  return 1;  // invalid lead byte: treat as one byte (byte fallback handles it)
}

}  // namespace

SpmTokenizer::SpmTokenizer(const std::string& path) : path_(path) {
  model_ = parse_spm_model(read_text_file(path), path);
  SLMKIT_CHECK(model_.algorithm == SpmModel::Algorithm::kBPE, path, ": SentencePiece model type ",
               static_cast<int>(model_.algorithm), " is not supported (only BPE models, type 2, as used by Llama)");
  SLMKIT_CHECK(!model_.has_precompiled_charsmap || model_.normalizer_name == "identity", path,
               ": SentencePiece normalizer \"", model_.normalizer_name,
               "\" with a precompiled character map is not supported (Llama models use \"identity\")");
  std::fill(std::begin(byte_ids_), std::end(byte_ids_), -1);
  for (int32_t id = 0; id < static_cast<int32_t>(model_.pieces.size()); ++id) {
    const std::string& p = model_.pieces[static_cast<size_t>(id)];
    switch (model_.types[static_cast<size_t>(id)]) {
      case SpmModel::PieceType::kNormal:
        mergeable_.emplace(p, id);
        break;
      case SpmModel::PieceType::kUserDefined:
        mergeable_.emplace(p, id);
        user_defined_.push_back(p);
        break;
      case SpmModel::PieceType::kByte: {
        unsigned value = 0;
        if (p.size() == 6 && std::sscanf(p.c_str(), "<0x%2X>", &value) == 1) byte_ids_[value] = id;
        break;
      }
      default:
        break;
    }
  }
  // Longest user-defined piece first, so a prefix never hides a longer match.
  std::sort(user_defined_.begin(), user_defined_.end(),
            [](std::string_view a, std::string_view b) { return a.size() > b.size(); });
}

std::string SpmTokenizer::describe() const {
  return cat("sentencepiece bpe, ", model_.pieces.size(), " pieces");
}

std::string SpmTokenizer::normalize(std::string_view text) const {
  std::string s(text);
  if (model_.remove_extra_whitespaces) {  // strip both ends and collapse runs of spaces
    std::string t;
    bool prev_space = true;
    for (char c : s) {
      if (c == ' ') {
        if (!prev_space) t += c;
        prev_space = true;
      } else {
        t += c;
        prev_space = false;
      }
    }
    while (!t.empty() && t.back() == ' ') t.pop_back();
    s = std::move(t);
  }
  if (s.empty()) return s;
  std::string out;
  out.reserve(s.size() + s.size() / 4 + 3);
  if (model_.add_dummy_prefix) out += model_.escape_whitespaces ? std::string(kSpace) : " ";
  for (char c : s) {
    if (c == ' ' && model_.escape_whitespaces) out += kSpace;
    else out += c;
  }
  return out;
}

int32_t SpmTokenizer::mergeable_id(std::string_view piece) const {
  auto it = mergeable_.find(piece);
  return it == mergeable_.end() ? -1 : it->second;
}

void SpmTokenizer::append_with_byte_fallback(std::string_view symbol, std::vector<int32_t>& out) const {
  const int32_t id = mergeable_id(symbol);
  if (id >= 0) {
    out.push_back(id);
    return;
  }
  if (model_.byte_fallback) {
    bool all_bytes = true;
    for (unsigned char c : symbol) all_bytes = all_bytes && byte_ids_[c] >= 0;
    if (all_bytes) {
      for (unsigned char c : symbol) out.push_back(byte_ids_[c]);
      return;
    }
  }
  out.push_back(model_.unk_id);
}

std::vector<int32_t> SpmTokenizer::encode(std::string_view text, bool add_bos) const {
  std::vector<int32_t> out;
  if (add_bos && model_.bos_id >= 0) out.push_back(model_.bos_id);
  const std::string norm = normalize(text);
  if (norm.empty()) return out;

  // Symbols as a doubly linked list over spans of `norm`.
  struct Symbol {
    size_t begin, size;
    int64_t prev, next;
    bool fixed;  // user-defined piece: never merged
  };
  std::vector<Symbol> sym;
  sym.reserve(norm.size());
  for (size_t pos = 0; pos < norm.size();) {
    size_t len = 0;
    bool fixed = false;
    for (std::string_view u : user_defined_)
      if (norm.compare(pos, u.size(), u) == 0) {
        len = u.size();
        fixed = true;
        break;
      }
    if (len == 0) len = std::min(utf8_length(static_cast<unsigned char>(norm[pos])), norm.size() - pos);
    const int64_t idx = static_cast<int64_t>(sym.size());
    sym.push_back({pos, len, idx - 1, idx + 1, fixed});
    pos += len;
  }
  sym.back().next = -1;

  struct Candidate {
    float score;
    int64_t left;
    size_t size;  // merged length, to detect stale entries
  };
  auto worse = [](const Candidate& a, const Candidate& b) {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  };
  std::priority_queue<Candidate, std::vector<Candidate>, decltype(worse)> agenda(worse);
  auto try_pair = [&](int64_t left) {
    if (left < 0) return;
    const int64_t right = sym[static_cast<size_t>(left)].next;
    if (right < 0) return;
    const Symbol& a = sym[static_cast<size_t>(left)];
    const Symbol& b = sym[static_cast<size_t>(right)];
    if (a.fixed || b.fixed) return;
    const int32_t id = mergeable_id(std::string_view(norm).substr(a.begin, a.size + b.size));
    if (id < 0 || model_.types[static_cast<size_t>(id)] == SpmModel::PieceType::kUserDefined) return;
    agenda.push({model_.scores[static_cast<size_t>(id)], left, a.size + b.size});
  };
  for (int64_t i = 0; i + 1 < static_cast<int64_t>(sym.size()); ++i) try_pair(i);
  while (!agenda.empty()) {
    const Candidate c = agenda.top();
    agenda.pop();
    Symbol& a = sym[static_cast<size_t>(c.left)];
    if (a.size == 0 || a.next < 0) continue;  // merged away
    Symbol& b = sym[static_cast<size_t>(a.next)];
    if (a.size + b.size != c.size) continue;  // stale: a neighbour changed since this was queued
    a.size += b.size;
    b.size = 0;
    a.next = b.next;
    if (b.next >= 0) sym[static_cast<size_t>(b.next)].prev = c.left;
    try_pair(a.prev);
    try_pair(c.left);
  }
  for (int64_t i = 0; i >= 0; i = sym[static_cast<size_t>(i)].next)
    append_with_byte_fallback(std::string_view(norm).substr(sym[static_cast<size_t>(i)].begin,
                                                            sym[static_cast<size_t>(i)].size), out);
  return out;
}

std::string SpmTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string out;
  bool at_start = true;
  for (int32_t id : ids) {
    if (id < 0 || id >= vocab_size()) continue;
    const auto type = model_.types[static_cast<size_t>(id)];
    if (type == SpmModel::PieceType::kControl) continue;
    std::string piece;
    if (type == SpmModel::PieceType::kByte) {
      unsigned value = 0;
      std::sscanf(model_.pieces[static_cast<size_t>(id)].c_str(), "<0x%2X>", &value);
      piece = std::string(1, static_cast<char>(value));
    } else if (type == SpmModel::PieceType::kUnknown) {
      piece = " \xE2\x81\x87 ";  // sentencepiece's default surface for <unk>
    } else {
      const std::string& p = model_.pieces[static_cast<size_t>(id)];
      for (size_t i = 0; i < p.size();) {
        if (p.compare(i, kSpace.size(), kSpace) == 0) {
          piece += ' ';
          i += kSpace.size();
        } else {
          piece += p[i++];
        }
      }
    }
    // The dummy prefix added at encode time is not part of the text.
    if (at_start && model_.add_dummy_prefix && !piece.empty() && piece[0] == ' ') piece.erase(0, 1);
    at_start = false;
    out += piece;
  }
  return out;
}

}  // namespace slmkit
