// tokenizer.model files built here from stories260k's by appending protobuf
// fields (protobuf merges a repeated message field and lets a later scalar
// win): model features the real files do not use, checked against
// libsentencepiece, and malformed files, each with its own Error message.
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/error.h"
#include "io/mapped_file.h"
#include "spm_parity.h"
#include "test_util.h"
#include "tokenizer/spm_tokenizer.h"

namespace slmkit {
namespace {

// --- a minimal protobuf writer -------------------------------------------

std::string varint(uint64_t v) {
  std::string out;
  for (; v >= 0x80; v >>= 7) out += static_cast<char>((v & 0x7f) | 0x80);
  return out + static_cast<char>(v);
}
// int32 fields are written as 64-bit varints, so -1 takes ten bytes.
std::string int_field(int field, int64_t v) {
  return varint(static_cast<uint64_t>(field) << 3) + varint(static_cast<uint64_t>(v));
}
std::string bytes_field(int field, const std::string& bytes) {
  return varint(static_cast<uint64_t>(field) << 3 | 2) + varint(bytes.size()) + bytes;
}
std::string float_field(int field, float f) {
  std::string out = varint(static_cast<uint64_t>(field) << 3 | 5);
  char raw[4];
  std::memcpy(raw, &f, 4);
  return out.append(raw, 4);
}

enum PieceType { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

// ModelProto fields: 1 pieces {1 piece, 2 score, 3 type}, 2 trainer_spec, 3 normalizer_spec.
std::string piece(const std::string& text, float score, int type) {
  return bytes_field(1, bytes_field(1, text) + float_field(2, score) + int_field(3, type));
}
std::string trainer(const std::string& fields) { return bytes_field(2, fields); }
std::string normalizer(const std::string& fields) { return bytes_field(3, fields); }

const std::string kStories = "models/stories260k/tokenizer.model";

std::string stories_bytes() { return read_text_file(test::data_path(kStories)); }

std::string write_model(const std::string& bytes) {
  const std::string path = test::make_temp_dir() + "/tokenizer.model";
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

// --- model features, against the oracle ------------------------------------

// stories260k plus user-defined pieces (kept whole, never merged) and unused
// pieces: unused ones may be formed while merging, then merged on into a
// normal piece or split back into their halves.
std::string stories_with_extra_pieces() {
  const SpmTokenizer base(test::data_path(kStories));
  const std::vector<int32_t> ids = base.encode("Once upon a time there was a little girl named Lily.", false);
  const std::vector<std::string>& p = base.model().pieces;
  auto at = [&](size_t i) { return p[static_cast<size_t>(ids.at(i))]; };
  return stories_bytes() + piece("<|user|>", 0, kUserDefined) + piece("x y", 0, kUserDefined) +
         piece("ab", 0, kUserDefined) + piece("Lil", 0, kUserDefined) +
         piece("\xE2\x96\x81Once\xE2\x96\x81upon", 0, kUserDefined) +
         piece(at(2) + at(3), 100, kUnused) + piece(at(2) + at(3) + at(4), 101, kNormal) +
         piece(at(5) + at(6), 100, kUnused);
}

void expect_oracle_parity(const std::string& bytes, const std::string& what) {
  const test::SpmPair t(write_model(bytes));
  test::expect_parity_on_awkward_strings(t, what, 300);
  test::expect_parity(t, "Once upon a time there was a little girl named Lily. <|user|>Lily ab x y",
                      what + ": story");
  test::expect_decode_parity_on_random_ids(t, what, 1000);
}

TEST(SpmModelFeatures, UserDefinedAndUnusedPiecesMatchOracle) {
  const std::string bytes = stories_with_extra_pieces();
  expect_oracle_parity(bytes, "user-defined + unused");
  // The unused pieces really are formed and resolved, not just present.
  const SpmTokenizer ours(write_model(bytes));
  const SpmTokenizer base(test::data_path(kStories));
  const std::string story = "Once upon a time there was a little girl named Lily.";
  EXPECT_NE(ours.encode(story, false), base.encode(story, false));
  EXPECT_EQ(ours.encode("<|user|>", false).back(), 512);  // the dummy "▁", then <|user|> whole
}

TEST(SpmModelFeatures, RemoveExtraWhitespacesMatchesOracle) {
  expect_oracle_parity(stories_with_extra_pieces() + normalizer(int_field(4, 1)), "squash spaces");
}

TEST(SpmModelFeatures, NoDummyPrefixMatchesOracle) {
  expect_oracle_parity(stories_bytes() + normalizer(int_field(3, 0)), "no dummy prefix");
}

TEST(SpmModelFeatures, UnescapedWhitespaceMatchesOracle) {
  expect_oracle_parity(stories_bytes() + normalizer(int_field(5, 0)), "spaces not escaped");
}

// BOS/EOS/PAD are the control pieces the trainer spec names (as in
// libsentencepiece); the numeric ids it declares are not used.
TEST(SpmModelFeatures, SpecialTokensFollowTheirPieceNames) {
  const std::string renamed =
      stories_bytes() + trainer(int_field(41, -1) + bytes_field(46, "<bos>") + bytes_field(48, "</s>"));
  expect_oracle_parity(renamed, "no BOS piece");
  const test::SpmPair t(write_model(renamed));
  EXPECT_EQ(t.ours.bos_id(), -1);
  EXPECT_EQ(t.ours.bos_id(), t.oracle.bos_id());
  EXPECT_EQ(t.ours.model().pad_id, 2);
  EXPECT_EQ(t.ours.encode("", true), std::vector<int32_t>{});
  // "<s>" is still a control piece: it decodes to nothing.
  EXPECT_EQ(t.ours.decode({1, 2}), "");
  // A declared bos_id of -1 alone does not remove "<s>".
  const test::SpmPair declared(write_model(stories_bytes() + trainer(int_field(41, -1))));
  EXPECT_EQ(declared.ours.bos_id(), 1);
  EXPECT_EQ(declared.oracle.bos_id(), 1);
}

// A tiny model from scratch without byte pieces: a run of characters outside
// the vocabulary becomes one <unk>.
TEST(SpmModelFeatures, NoByteFallbackMatchesOracle) {
  std::string bytes = piece("<unk>", 0, kUnknown) + piece("<s>", 0, kControl) + piece("</s>", 0, kControl);
  const std::string space = "\xE2\x96\x81";  // "▁"
  const std::string normal[] = {space, "a", "b", "c", space + "a", "ab", "abc", space + "ab"};
  float score = 0;
  for (const std::string& p : normal) bytes += piece(p, score--, kNormal);
  bytes += trainer(int_field(3, 2)) + normalizer(bytes_field(1, "identity"));
  expect_oracle_parity(bytes, "no byte fallback");
  const SpmTokenizer ours(write_model(bytes));
  EXPECT_EQ(ours.encode("ab x\xC3\xA9" "c", false), (std::vector<int32_t>{10, 3, 0, 6}));
  EXPECT_EQ(ours.decode({10, 3, 0, 6}), "ab  \xE2\x81\x87 c");
}

// --- malformed files ---------------------------------------------------------

// The Error message of loading `bytes` as a tokenizer.model, and its path.
struct LoadError {
  std::string path, message;
};
LoadError load_error(const std::string& bytes) {
  const std::string path = write_model(bytes);
  try {
    SpmTokenizer tokenizer(path);
  } catch (const Error& e) {
    return {path, e.what()};
  }
  return {path, "(loaded without error)"};
}

TEST(SpmModelErrors, EmptyFile) {
  const LoadError e = load_error("");
  EXPECT_EQ(e.message, e.path + ": file is empty; expected a SentencePiece tokenizer.model");
}

TEST(SpmModelErrors, TruncatedVarint) {
  // A piece field whose length varint has its continuation bit set at the end.
  const LoadError e = load_error("\x0A\x80");
  EXPECT_EQ(e.message, e.path + ": truncated varint in SentencePiece model");
  const LoadError long_varint = load_error("\x08" + std::string(11, '\x80'));
  EXPECT_EQ(long_varint.message,
            long_varint.path + ": malformed varint in SentencePiece model (more than 10 bytes)");
}

TEST(SpmModelErrors, LengthPastEnd) {
  const LoadError e = load_error("\x0A\x05" "ab");
  EXPECT_EQ(e.message, e.path + ": field of 5 bytes runs past the end (2 left); the "
                                "SentencePiece model is truncated or not a model file");
  // A real file cut short fails the same way.
  const std::string good = stories_bytes();
  const LoadError cut = load_error(good.substr(0, good.size() / 2));
  EXPECT_NE(cut.message.find("runs past the end"), std::string::npos) << cut.message;
}

TEST(SpmModelErrors, NotBpe) {
  const LoadError unigram = load_error(stories_bytes() + trainer(int_field(3, 1)));
  EXPECT_EQ(unigram.message, unigram.path + ": SentencePiece model type 1 is not supported "
                                            "(only BPE models, type 2, as used by Llama)");
  const LoadError suffix = load_error(stories_bytes() + trainer(int_field(24, 1)));
  EXPECT_EQ(suffix.message,
            suffix.path + ": SentencePiece models with treat_whitespace_as_suffix are not supported");
  const LoadError nfkc =
      load_error(stories_bytes() + normalizer(bytes_field(1, "nmt_nfkc") + bytes_field(2, "map")));
  EXPECT_EQ(nfkc.message, nfkc.path + ": SentencePiece normalizer \"nmt_nfkc\" with a precompiled "
                                      "character map is not supported (Llama models use \"identity\")");
}

TEST(SpmModelErrors, SpecialIdOutsideVocabulary) {
  const LoadError bos = load_error(stories_bytes() + trainer(int_field(41, 512)));
  EXPECT_EQ(bos.message,
            bos.path + ": bos_id 512 is outside the vocabulary of 512 pieces (-1 means none)");
  const LoadError eos = load_error(stories_bytes() + trainer(int_field(42, -2)));
  EXPECT_EQ(eos.message,
            eos.path + ": eos_id -2 is outside the vocabulary of 512 pieces (-1 means none)");
  const LoadError unk = load_error(stories_bytes() + trainer(int_field(40, -1)));
  EXPECT_EQ(unk.message, unk.path + ": unk_id -1 is outside the vocabulary of 512 pieces");
}

TEST(SpmModelErrors, UnknownPieceMissingOrTwice) {
  const std::string rest = piece("<s>", 0, kControl) + piece("a", 0, kNormal) + trainer(int_field(3, 2));
  const LoadError none = load_error(piece("<unk>", 0, kNormal) + rest);
  EXPECT_EQ(none.message,
            none.path + ": no piece has type UNKNOWN; a SentencePiece model needs an <unk>");
  const LoadError two = load_error(piece("<unk>", 0, kUnknown) + rest + piece("<unk2>", 0, kUnknown));
  EXPECT_EQ(two.message, two.path + ": pieces 0 and 3 are both of type UNKNOWN; a SentencePiece "
                                    "model has one <unk>");
}

TEST(SpmModelErrors, BadPieces) {
  const LoadError none = load_error(trainer(int_field(3, 2)));
  EXPECT_EQ(none.message,
            none.path + ": SentencePiece model has no pieces (not a tokenizer.model file?)");
  const LoadError type = load_error(stories_bytes() + piece("zz", 0, 9));
  EXPECT_EQ(type.message, type.path + ": piece 512 has unknown type 9");
  const LoadError twice = load_error(stories_bytes() + piece("<s>", 0, kNormal));
  EXPECT_EQ(twice.message, twice.path + ": piece \"<s>\" appears twice (ids 1 and 512); the "
                                        "SentencePiece model is corrupt");
  const LoadError byte = load_error(stories_bytes() + piece("<0xzz>", 0, kByte));
  EXPECT_EQ(byte.message,
            byte.path + ": piece 512 \"<0xzz>\" has type BYTE but is not of the form <0xNN>");
  const LoadError off = load_error(stories_bytes() + trainer(int_field(35, 0)));
  EXPECT_EQ(off.message,
            off.path + ": piece 3 is the byte piece <0x00> but the model's byte_fallback is off");
  const LoadError wire = load_error("\x0B");  // field 1 as a (long obsolete) group
  EXPECT_EQ(wire.message,
            wire.path + ": unsupported protobuf wire type 3; not a SentencePiece model?");
}

TEST(SpmModelErrors, MissingFile) {
  const std::string path = test::make_temp_dir() + "/missing.model";
  try {
    SpmTokenizer tokenizer(path);
    ADD_FAILURE() << "loaded a missing file";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace slmkit
