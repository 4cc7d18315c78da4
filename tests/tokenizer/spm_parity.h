// Helpers for comparing our SpmTokenizer with libsentencepiece (the oracle):
// mismatch reports that stay readable for whole corpora, and a list of
// awkward inputs.
#pragma once

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "sentencepiece_oracle.h"
#include "tokenizer/spm_tokenizer.h"

namespace slmkit::test {

// Both tokenizers on one model file.
struct SpmPair {
  explicit SpmPair(const std::string& path) : ours(path), oracle(path) {}
  SpmTokenizer ours;
  SentencePieceOracle oracle;
};

// A few ids around `at`, the one at `at` in brackets.
inline std::string id_window(const std::vector<int32_t>& ids, size_t at) {
  std::string out;
  for (size_t i = at < 3 ? 0 : at - 3; i < std::min(ids.size(), at + 4); ++i)
    out += (i == at ? " [" : " ") + std::to_string(ids[i]) + (i == at ? "]" : "");
  return out;
}

// Whole-corpus vectors would flood the log, so a mismatch reports where the
// sequences first differ.
inline void expect_same_ids(const std::vector<int32_t>& ours, const std::vector<int32_t>& oracle,
                            const std::string& what) {
  if (ours == oracle) return;
  size_t at = 0;
  while (at < ours.size() && at < oracle.size() && ours[at] == oracle[at]) ++at;
  ADD_FAILURE() << what << ": ids differ at index " << at << " (" << ours.size() << " vs "
                << oracle.size() << " ids)\n  ours:  " << id_window(ours, at)
                << "\n  oracle:" << id_window(oracle, at);
}

inline void expect_same_text(const std::string& ours, const std::string& oracle,
                             const std::string& what) {
  if (ours == oracle) return;
  size_t at = 0;
  while (at < ours.size() && at < oracle.size() && ours[at] == oracle[at]) ++at;
  const size_t from = at < 20 ? 0 : at - 20;
  ADD_FAILURE() << what << ": text differs at byte " << at << " (" << ours.size() << " vs "
                << oracle.size() << " bytes)\n  ours:   [" << ours.substr(from, 40)
                << "]\n  oracle: [" << oracle.substr(from, 40) << "]";
}

// Encode (with and without BOS) and decode must agree with the oracle.
inline void expect_parity(const SpmPair& t, const std::string& text, const std::string& what) {
  for (const bool bos : {false, true}) {
    const std::string label = what + (bos ? " (BOS)" : " (no BOS)");
    const std::vector<int32_t> ids = t.ours.encode(text, bos);
    expect_same_ids(ids, t.oracle.encode(text, bos), label);
    expect_same_text(t.ours.decode(ids), t.oracle.decode(ids), label + " decode");
  }
}

// Whitespace handling, scripts outside the vocabulary, literal special-token
// text and bytes that are not UTF-8 (libsentencepiece's normalizer maps each
// bad byte to U+FFFD; so must we).
inline const std::vector<std::string>& awkward_strings() {
  static const std::vector<std::string> strings = {
      "", " ", "  ", "     ", "\t", "\n", "\n\n\n", "\r\n", " \n ", "a", " a", "a ", "  a  ",
      "a  b   c", "Hello world", " Hello world", "Hello  world ", "tab\there\tand\nnew\nlines",
      "\tindented\n\t\tmore", "trailing newline\n",
      "\xF0\x9F\x91\x8B\xF0\x9F\x8F\xBD hi \xF0\x9F\xA6\x99",                      // emoji
      "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7",  // ZWJ family
      "\xE4\xBD\xA0\xE5\xA5\xBD\xEF\xBC\x8C\xE4\xB8\x96\xE7\x95\x8C",              // 你好，世界
      "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E \xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4",   // 日本語 한국어
      "\xD9\x85\xD8\xB1\xD8\xAD\xD8\xA8\xD8\xA7", "e\xCC\x81 caf\xC3\xA9", "\xC2\xA0nbsp\xC2\xA0",
      "\xEA\xB0\x80\xEA\xB0\x81 \xF0\x90\x8D\x88 \xF0\x9D\x95\xAB",  // rare: byte fallback
      "<s>", "</s>", "<unk>", "<s> Hello </s>", "<0x41>", "\xE2\x96\x81", "\xE2\x96\x81\xE2\x96\x81x",
      "a\xE2\x96\x81 b", "x \xE2\x96\x81", "\xEF\xBF\xBD", std::string("a\0b", 3), std::string(1, '\0'),
      "\x01\x7F", "\xFF", "\xC3", "a\x80" "b", "\xE4\xB8", "\xE4\xB8 x", "\xC0\xAF", "\xED\xA0\x80",
      "\xF4\x90\x80\x80", "\xF8\x88\x80\x80\x80", "\xFE\xFF", "ok\xF0\x9F\x98" "end",
      std::string(300, 'a'), std::string(200, ' ') + "x", "1234567890 3.14159 1e-9 0xFF",
      "   spaces   between   words   ", "\xE2\x80\x83\xE2\x80\x89thin", "x\xCC\x81\xCC\x82\xCC\x83",
      "Once upon a time there was a little girl named Lily.", "x y ab x y",
  };
  return strings;
}

// Every awkward string, then `rounds` seeded random concatenations of them
// (whitespace runs next to bytes, bad UTF-8 between multi-byte characters...).
inline void expect_parity_on_awkward_strings(const SpmPair& t, const std::string& what, int rounds) {
  const std::vector<std::string>& strings = awkward_strings();
  for (size_t i = 0; i < strings.size(); ++i)
    expect_parity(t, strings[i], what + ": awkward string " + std::to_string(i));
  std::mt19937 rng(12345);
  for (int round = 0; round < rounds; ++round) {
    std::string text;
    const int parts = 1 + static_cast<int>(rng() % 8);
    for (int p = 0; p < parts; ++p) text += strings[rng() % strings.size()].substr(0, 40);
    expect_parity(t, text, what + ": random fragments round " + std::to_string(round));
  }
}

// Decoding arbitrary id sequences, not only what encode produces: control and
// unknown pieces, byte pieces that do not form UTF-8, "▁" pieces after BOS,
// after bytes, or at the start.
inline void expect_decode_parity_on_random_ids(const SpmPair& t, const std::string& what, int rounds) {
  std::mt19937 rng(777);
  const auto n = static_cast<unsigned>(t.ours.vocab_size());
  for (int round = 0; round < rounds; ++round) {
    std::vector<int32_t> ids(1 + rng() % 8);
    for (int32_t& id : ids) {
      const unsigned kind = rng() % 4;
      const unsigned value = kind == 0 ? rng() % 3          // <unk> <s> </s>
                             : kind == 1 ? 3 + rng() % 256  // byte pieces in Llama's layout
                                         : rng();
      id = static_cast<int32_t>(value % n);
    }
    expect_same_text(t.ours.decode(ids), t.oracle.decode(ids),
                     what + ": decode round " + std::to_string(round) + id_window(ids, 0));
  }
}

}  // namespace slmkit::test
