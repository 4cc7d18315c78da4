// GGUF reader and writer: llama.cpp's vocab files read and rewritten byte for
// byte, every value type and tensor layout round-tripped, and each bad-input case
// of reliability.md §6.2 refused with its own message.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/gguf.h"
#include "test_util.h"

namespace slmkit {
namespace {

using namespace std::string_literals;

// ---------------------------------------------------------------- helpers

std::string le32(uint32_t v) { return std::string(reinterpret_cast<const char*>(&v), 4); }
std::string le64(uint64_t v) { return std::string(reinterpret_cast<const char*>(&v), 8); }
std::string gstr(const std::string& s) { return le64(s.size()) + s; }

std::string kv_string(const std::string& key, const std::string& value) { return gstr(key) + le32(8) + gstr(value); }
std::string kv_u32(const std::string& key, uint32_t value) { return gstr(key) + le32(4) + le32(value); }

struct Info {
  std::string name;
  std::vector<uint64_t> ne;  // n_dims = ne.size()
  uint32_t type = 0;         // F32
  uint64_t offset = 0;
};

// A GGUF image assembled by hand: header, encoded key-values, tensor infos,
// zero padding to 32 (when there are tensors), then `data`.
std::string gguf_bytes(const std::vector<std::string>& kvs, const std::vector<Info>& infos, const std::string& data,
                       uint32_t version = 3) {
  std::string out = "GGUF" + le32(version) + le64(infos.size()) + le64(kvs.size());
  for (const std::string& kv : kvs) out += kv;
  for (const Info& t : infos) {
    out += gstr(t.name) + le32(static_cast<uint32_t>(t.ne.size()));
    for (uint64_t ne : t.ne) out += le64(ne);
    out += le32(t.type) + le64(t.offset);
  }
  if (!infos.empty()) out.resize((out.size() + 31) / 32 * 32, '\0');
  return out + data;
}

// Two F32 tensors: "a" [5] (20 bytes, padded to 32) and "b" ne [4, 2] at offset 32.
std::vector<Info> two_tensors() { return {{"a", {5}, 0, 0}, {"b", {4, 2}, 0, 32}}; }
std::string two_tensor_data() {
  std::string data(64, '\0');
  for (int i = 0; i < 20; ++i) data[i] = static_cast<char>(1 + i);
  for (int i = 32; i < 64; ++i) data[i] = static_cast<char>(100 + i);
  return data;
}
const std::string kArchitecture = kv_string("general.architecture", "test");
std::string valid_file() { return gguf_bytes({kArchitecture}, two_tensors(), two_tensor_data()); }

GgufFile parse(const std::string& bytes, const GgufLimits& limits = {}) {
  return parse_gguf(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "bad.gguf", limits);
}

using test::error_of;

// Parses `bytes` and expects an Error naming the file and containing each fragment.
void expect_rejected(const std::string& bytes, std::initializer_list<std::string> fragments,
                     const GgufLimits& limits = {}) {
  const std::string message = error_of([&] { parse(bytes, limits); });
  EXPECT_EQ(message.rfind("bad.gguf: ", 0), 0u) << message;
  for (const std::string& fragment : fragments)
    EXPECT_NE(message.find(fragment), std::string::npos) << "missing \"" << fragment << "\" in: " << message;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_bytes(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

std::string vocab_path(const std::string& name) { return test::data_path("tokenizers/llamacpp-vectors/" + name); }

// ---------------------------------------------------------------- llama.cpp's files

TEST(GgufRead, LlamaSpmVocab) {
  const GgufFile f = read_gguf(vocab_path("ggml-vocab-llama-spm.gguf"));
  EXPECT_EQ(f.version, 3u);
  EXPECT_EQ(f.metadata.size(), 22u);
  EXPECT_TRUE(f.tensors.empty());
  EXPECT_EQ(f.alignment, 32u);
  EXPECT_EQ(f.metadata.front().key, "general.architecture");  // file order kept
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.get_string("tokenizer.ggml.model"), "llama");
  EXPECT_EQ(f.get_uint("llama.context_length"), 4096u);
  EXPECT_EQ(f.get("llama.context_length").type(), GgufType::U32);
  EXPECT_FLOAT_EQ(static_cast<float>(f.get_float("llama.attention.layer_norm_rms_epsilon")), 1e-5f);
  EXPECT_EQ(f.get_uint("tokenizer.ggml.bos_token_id"), 1u);
  EXPECT_TRUE(f.get_bool("tokenizer.ggml.add_bos_token"));
  EXPECT_FALSE(f.get_bool("tokenizer.ggml.add_eos_token"));
  const std::vector<std::string>& tokens = f.get_strings("tokenizer.ggml.tokens");
  ASSERT_EQ(tokens.size(), 32000u);
  EXPECT_EQ(tokens[0], "<unk>");
  EXPECT_EQ(tokens[1], "<s>");
  EXPECT_EQ(tokens[3], "<0x00>");
  const GgufValue& scores = f.get("tokenizer.ggml.scores");
  EXPECT_EQ(scores.element_type(), GgufType::F32);
  EXPECT_EQ(scores.size(), 32000u);
  const GgufValue& token_type = f.get("tokenizer.ggml.token_type");
  EXPECT_EQ(token_type.element_type(), GgufType::I32);
  EXPECT_EQ(token_type.element(0).as_int(), 2);  // UNKNOWN
  EXPECT_EQ(token_type.element(1).as_int(), 3);  // CONTROL
  EXPECT_EQ(token_type.element(3).as_int(), 6);  // BYTE
}

TEST(GgufRead, Gpt2Vocab) {
  const GgufFile f = read_gguf(vocab_path("ggml-vocab-gpt-2.gguf"));
  EXPECT_EQ(f.metadata.size(), 16u);
  EXPECT_EQ(f.get_string("general.architecture"), "gpt2");
  EXPECT_EQ(f.get_string("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(f.get_string("tokenizer.ggml.pre"), "gpt-2");
  EXPECT_EQ(f.get_uint("gpt2.context_length"), 1024u);
  EXPECT_EQ(f.get_uint("tokenizer.ggml.eos_token_id"), 50256u);
  EXPECT_EQ(f.get_strings("tokenizer.ggml.tokens").size(), 50257u);
  const std::vector<std::string>& merges = f.get_strings("tokenizer.ggml.merges");
  ASSERT_EQ(merges.size(), 50000u);
  EXPECT_EQ(merges[0], "\xc4\xa0 t");  // "Ġ t"
}

TEST(GgufRoundTrip, LlamaCppVocabFilesAreByteIdentical) {
  const std::string dir = test::make_temp_dir();
  for (const std::string name : {"ggml-vocab-llama-spm.gguf", "ggml-vocab-gpt-2.gguf"}) {
    const GgufFile f = read_gguf(vocab_path(name));
    write_gguf(dir + "/" + name, f.metadata, f.tensors);
    const std::string original = read_bytes(vocab_path(name));
    const std::string rewritten = read_bytes(dir + "/" + name);
    EXPECT_EQ(rewritten.size(), original.size()) << name;
    EXPECT_TRUE(rewritten == original) << name << " differs after a read/write round trip";
  }
}

// ---------------------------------------------------------------- our own files

struct OwnedTensor {
  std::string name;
  GgmlType type;
  std::vector<int64_t> ne;
  std::vector<uint8_t> bytes;
};

OwnedTensor make_tensor(std::string name, GgmlType type, std::vector<int64_t> ne) {
  OwnedTensor t{std::move(name), type, std::move(ne), {}};
  int64_t numel = 1;
  for (int64_t d : t.ne) numel *= d;
  std::vector<float> values(static_cast<size_t>(numel));
  for (size_t i = 0; i < values.size(); ++i) values[i] = std::sin(0.1f * static_cast<float>(i)) * 3.0f;
  t.bytes.resize(ggml_row_bytes(type, numel));
  quantize_row(type, values.data(), numel, t.bytes.data());
  return t;
}

std::vector<GgufTensor> views(const std::vector<OwnedTensor>& owned) {
  std::vector<GgufTensor> out;
  for (const OwnedTensor& t : owned) {
    GgufTensor v;
    v.name = t.name;
    v.type = t.type;
    v.ne = t.ne;
    v.data = t.bytes.data();
    v.nbytes = t.bytes.size();
    out.push_back(v);
  }
  return out;
}

std::vector<GgufKeyValue> every_value_type() {
  const float nan_with_payload = [] {
    const uint32_t bits = 0x7fc01234;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  }();
  return {
      {"general.architecture", GgufValue::string("llama")},
      {"t.u8", GgufValue::u8(255)},
      {"t.i8", GgufValue::i8(-128)},
      {"t.u16", GgufValue::u16(65535)},
      {"t.i16", GgufValue::i16(-32768)},
      {"t.u32", GgufValue::u32(4000000000u)},
      {"t.i32", GgufValue::i32(-2000000000)},
      {"t.f32", GgufValue::f32(1e-5f)},
      {"t.bool", GgufValue::boolean(true)},
      {"t.u64", GgufValue::u64(std::numeric_limits<uint64_t>::max())},
      {"t.i64", GgufValue::i64(std::numeric_limits<int64_t>::min())},
      {"t.f64", GgufValue::f64(-0.0)},
      {"t.string", GgufValue::string("h\xc3\xa9llo\0world"s)},
      {"t.empty_string", GgufValue::string("")},
      {"t.strings", GgufValue::string_array({"<unk>", "", "\xe2\x96\x81the"})},
      {"t.f32s", GgufValue::f32_array({0.5f, nan_with_payload, -1e30f})},
      {"t.i32s", GgufValue::i32_array({1, -2, 3})},
      {"t.bools", GgufValue::array(GgufType::BOOL, {GgufValue::boolean(false), GgufValue::boolean(true)})},
      {"t.empty_array", GgufValue::array(GgufType::U64, {})},
      {"t.nested_strings",
       GgufValue::array(GgufType::ARRAY, {GgufValue::string_array({"a", "bc"}), GgufValue::string_array({})})},
  };
}

TEST(GgufRoundTrip, EveryValueTypeAndTensorLayout) {
  const std::vector<OwnedTensor> owned = {
      make_tensor("token_embd.weight", GgmlType::Q4_0, {64, 3}),
      make_tensor("blk.0.attn_q.weight", GgmlType::Q4_K, {256, 2}),
      make_tensor("blk.0.ffn_down.weight", GgmlType::Q6_K, {256, 1, 1, 2}),
      make_tensor("blk.0.attn_norm.weight", GgmlType::F32, {7}),
      make_tensor("blk.0.attn_k.weight", GgmlType::Q8_0, {32, 5}),
      make_tensor("blk.0.attn_v.weight", GgmlType::Q4_1, {32}),
      make_tensor("output.weight", GgmlType::F16, {3, 3}),
      make_tensor("scalar", GgmlType::BF16, {}),
      make_tensor("empty", GgmlType::F32, {0, 4}),
  };
  const std::vector<GgufKeyValue> metadata = every_value_type();
  const std::string dir = test::make_temp_dir();
  write_gguf(dir + "/first.gguf", metadata, views(owned));

  const GgufFile f = read_gguf(dir + "/first.gguf");
  ASSERT_EQ(f.metadata.size(), metadata.size());
  for (size_t i = 0; i < metadata.size(); ++i) {
    EXPECT_EQ(f.metadata[i].key, metadata[i].key);
    EXPECT_TRUE(f.metadata[i].value == metadata[i].value) << metadata[i].key;
  }
  EXPECT_EQ(f.get("t.i8").as_int(), -128);
  EXPECT_EQ(f.get("t.i64").as_int(), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(f.get_uint("t.u64"), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(f.get_string("t.string").size(), 12u);  // the NUL is kept
  EXPECT_EQ(f.get("t.nested_strings").element(0).strings()[1], "bc");
  EXPECT_TRUE(std::signbit(f.get_float("t.f64")));

  ASSERT_EQ(f.tensors.size(), owned.size());
  for (size_t i = 0; i < owned.size(); ++i) {
    const GgufTensor& t = f.tensors[i];
    EXPECT_EQ(t.name, owned[i].name);
    EXPECT_EQ(t.type, owned[i].type);
    EXPECT_EQ(t.ne, owned[i].ne);
    EXPECT_EQ(t.offset % 32, 0u) << t.name;
    ASSERT_EQ(t.nbytes, owned[i].bytes.size()) << t.name;
    EXPECT_TRUE(t.nbytes == 0 || std::memcmp(t.data, owned[i].bytes.data(), t.nbytes) == 0) << t.name;
    EXPECT_EQ((f.data_offset + t.offset) % 32, 0u);
  }
  EXPECT_EQ(f.find_tensor("blk.0.attn_q.weight")->torch_shape(), (std::vector<int64_t>{2, 256}));

  // What was read writes back to the same bytes.
  write_gguf(dir + "/second.gguf", f.metadata, f.tensors);
  EXPECT_TRUE(read_bytes(dir + "/first.gguf") == read_bytes(dir + "/second.gguf"));
}

TEST(GgufRoundTrip, AlignmentComesFromMetadata) {
  const std::vector<OwnedTensor> owned = {make_tensor("a", GgmlType::F32, {3}), make_tensor("b", GgmlType::Q8_0, {32})};
  const std::string path = test::make_temp_dir() + "/aligned.gguf";
  write_gguf(path, {{"general.alignment", GgufValue::u32(128)}}, views(owned));
  const GgufFile f = read_gguf(path);
  EXPECT_EQ(f.alignment, 128u);
  EXPECT_EQ(f.data_offset % 128, 0u);
  EXPECT_EQ(f.tensors[1].offset, 128u);
  EXPECT_EQ(read_bytes(path).size(), f.data_offset + 128 + 128);  // 34 bytes padded to 128
}

TEST(GgufRead, HandBuiltFileLayout) {
  const std::string bytes = valid_file();
  const GgufFile f = parse(bytes);
  ASSERT_EQ(f.tensors.size(), 2u);
  EXPECT_EQ(f.data_offset, bytes.size() - 64);
  EXPECT_EQ(f.tensors[0].nbytes, 20u);
  EXPECT_EQ(f.tensors[1].ne, (std::vector<int64_t>{4, 2}));
  EXPECT_EQ(f.tensors[1].data, reinterpret_cast<const uint8_t*>(bytes.data()) + f.data_offset + 32);
  EXPECT_EQ(f.tensors[0].data[0], 1);
  EXPECT_EQ(f.mapping, nullptr);
}

TEST(GgufRead, Version2IsRead) {
  EXPECT_EQ(parse(gguf_bytes({kArchitecture}, two_tensors(), two_tensor_data(), 2)).version, 2u);
}

TEST(GgufRead, FileWithoutTensorsMayOrMayNotPadItsDataSection) {
  const std::string unpadded = gguf_bytes({kArchitecture}, {}, "");
  EXPECT_EQ(parse(unpadded).data_offset, unpadded.size());
  std::string padded = unpadded;
  padded.resize((padded.size() + 31) / 32 * 32, '\0');
  ASSERT_NE(padded.size(), unpadded.size());
  EXPECT_TRUE(parse(padded).tensors.empty());
  expect_rejected(padded + std::string(32, '\0'), {"unexpected trailing bytes"});
}

TEST(GgufRead, TypedLookupsNameFileAndKey) {
  const GgufFile f = parse(gguf_bytes({kArchitecture, kv_u32("x.count", 7)}, {}, ""));
  EXPECT_EQ(f.get_uint("x.count"), 7u);
  std::string message = error_of([&] { f.get_string("x.count"); });
  EXPECT_NE(message.find("bad.gguf: metadata key \"x.count\": expected string, found u32"), std::string::npos)
      << message;
  message = error_of([&] { f.get_uint("x.missing"); });
  EXPECT_NE(message.find("bad.gguf: missing metadata key \"x.missing\""), std::string::npos) << message;
}

// ---------------------------------------------------------------- bad input

TEST(GgufBadInput, BadMagic) {
  std::string bytes = valid_file();
  bytes.replace(0, 4, "GGML");
  expect_rejected(bytes, {"byte 0: magic: expected \"GGUF\"", "found 47 47 4d 4c", "not a GGUF file"});
  expect_rejected("GG", {"byte 0: magic: file truncated: need 4 bytes, only 2 remain"});
}

TEST(GgufBadInput, UnsupportedVersion) {
  expect_rejected(gguf_bytes({}, {}, "", 1), {"byte 4: version: GGUF v1 is no longer supported"});
  expect_rejected(gguf_bytes({}, {}, "", 4), {"byte 4: version: unsupported GGUF version 4"});
  expect_rejected(gguf_bytes({}, {}, "", 0), {"unsupported GGUF version 0"});
  expect_rejected(gguf_bytes({}, {}, "", 0x03000000), {"byte-swapped version", "big-endian"});
}

TEST(GgufBadInput, ImpossibleCounts) {
  std::string bytes = "GGUF" + le32(3) + le64(0) + le64(1000) + kArchitecture;
  expect_rejected(bytes, {"byte 8: tensor and key-value counts: header counts impossible for the file size",
                          "0 tensors and 1000 key-value pairs"});
  bytes = "GGUF" + le32(3) + le64(uint64_t{1} << 62) + le64(uint64_t{1} << 62);
  expect_rejected(bytes, {"header counts impossible"});
  GgufLimits limits;
  limits.max_kv = 0;
  expect_rejected(valid_file(), {"byte 16: metadata key-value count: 1 exceeds the limit of 0"}, limits);
  limits = GgufLimits{};
  limits.max_tensors = 1;
  expect_rejected(valid_file(), {"byte 8: tensor count: 2 exceeds the limit of 1"}, limits);
}

TEST(GgufBadInput, StringLengthPastEndOfFile) {
  // Key length 1000 with only a few bytes left.
  const std::string header = "GGUF" + le32(3) + le64(0) + le64(1);
  expect_rejected(header + le64(1000) + "general" + le32(8) + le64(1),
                  {"byte 24: metadata entry #0: string length 1000", "runs past the end of the file"});
  // A string value whose length points past the end.
  expect_rejected(header + gstr("general.name") + le32(8) + le64(50) + "short",
                  {"key \"general.name\": string length 50 runs past the end of the file (5 bytes remain)"});
  GgufLimits limits;
  limits.max_string_bytes = 3;
  expect_rejected(gguf_bytes({kArchitecture}, {}, ""),
                  {"key \"general.architecture\": string length 4 exceeds the limit of 3 bytes"}, limits);
}

TEST(GgufBadInput, ArrayCountPastEndOfFile) {
  const std::string kv = gstr("tokenizer.ggml.scores") + le32(9) + le32(6) + le64(1000000) + le32(0);
  expect_rejected(gguf_bytes({kv}, {}, ""),
                  {"key \"tokenizer.ggml.scores\": array of 1000000 f32 needs at least 4000000 bytes"});
  GgufLimits limits;
  limits.max_array_elements = 10;
  expect_rejected(gguf_bytes({kv}, {}, ""), {"array of 1000000 elements exceeds the limit of 10"}, limits);
}

TEST(GgufBadInput, InvalidValueTypes) {
  expect_rejected(gguf_bytes({gstr("x.y") + le32(13) + le32(0)}, {}, ""),
                  {"key \"x.y\": invalid value type 13 (valid: 0-12)"});
  expect_rejected(gguf_bytes({gstr("x.flag") + le32(7) + "\x02"}, {}, ""),
                  {"key \"x.flag\": bool must be 0 or 1, found 2"});
  const std::string nested = gstr("x.n") + le32(9) + le32(9) + le64(1) + le32(8) + le64(0);
  EXPECT_EQ(parse(gguf_bytes({nested}, {}, "")).get("x.n").element(0).size(), 0u);
  GgufLimits limits;
  limits.max_array_depth = 1;
  expect_rejected(gguf_bytes({nested}, {}, ""), {"arrays nested deeper than 1 levels"}, limits);
}

TEST(GgufBadInput, BadKeys) {
  expect_rejected(gguf_bytes({kArchitecture, kArchitecture}, {}, ""),
                  {"metadata entry #1: duplicate key \"general.architecture\""});
  expect_rejected(gguf_bytes({kv_u32("", 1)}, {}, ""), {"metadata entry #0: the key is empty"});
  expect_rejected(gguf_bytes({kv_u32("bad\nkey", 1)}, {}, ""), {"byte 3 of the key is 0xa; keys are printable ASCII"});
}

TEST(GgufBadInput, BadAlignment) {
  expect_rejected(gguf_bytes({gstr("general.alignment") + le32(10) + le64(32)}, {}, ""),
                  {"metadata key \"general.alignment\": expected a u32", "found u64"});
  expect_rejected(gguf_bytes({kv_u32("general.alignment", 48)}, {}, ""), {"expected a power of two, found 48"});
  expect_rejected(gguf_bytes({kv_u32("general.alignment", 0)}, {}, ""), {"expected a power of two, found 0"});
}

TEST(GgufBadInput, NDimsAboveFour) {
  expect_rejected(gguf_bytes({kArchitecture}, {{"t", {1, 1, 1, 1, 1}, 0, 0}}, std::string(32, '\0')),
                  {"tensor \"t\": n_dims is 5; expected at most 4"});
}

TEST(GgufBadInput, DimsWhoseProductOverflows) {
  const uint64_t big = uint64_t{1} << 32;
  expect_rejected(gguf_bytes({kArchitecture}, {{"t", {big, big}, 0, 0}}, ""),
                  {"tensor \"t\": dims [4294967296, 4294967296]... overflow the element count"});
  expect_rejected(gguf_bytes({kArchitecture}, {{"t", {uint64_t{1} << 63}, 0, 0}}, ""),
                  {"dimension 0 is 9223372036854775808, more than 2^63-1"});
  // 2^62 f32 elements are countable but take 2^64 bytes.
  expect_rejected(gguf_bytes({kArchitecture}, {{"t", {uint64_t{1} << 62}, 0, 0}}, ""),
                  {"tensor \"t\": dims [4611686018427387904] of f32 overflow the byte size"});
}

TEST(GgufBadInput, UnknownGgmlType) {
  for (uint32_t type : {4u, 31u, 99u}) {
    expect_rejected(gguf_bytes({kArchitecture}, {{"t", {32}, type, 0}}, std::string(128, '\0')),
                    {"tensor \"t\": unknown ggml type id " + std::to_string(type)});
  }
}

TEST(GgufBadInput, RowNotWholeBlocks) {
  expect_rejected(gguf_bytes({kArchitecture}, {{"t", {16, 2}, 2, 0}}, std::string(64, '\0')),
                  {"tensor \"t\": type q4_0 needs rows (ne[0]) that are a multiple of 32, found 16"});
}

TEST(GgufBadInput, TensorNames) {
  const std::string long_name(64, 'x');
  expect_rejected(gguf_bytes({kArchitecture}, {{long_name, {1}, 0, 0}}, std::string(32, '\0')),
                  {"name of tensor #0: string length 64 exceeds the limit of 63 bytes"});
  expect_rejected(gguf_bytes({kArchitecture}, {{"a", {1}, 0, 0}, {"a", {1}, 0, 32}}, std::string(64, '\0')),
                  {"tensor \"a\": duplicate tensor name"});
}

TEST(GgufBadInput, TensorOffsetOutOfBounds) {
  std::vector<Info> infos = two_tensors();
  infos[1].offset = uint64_t{1} << 40;
  expect_rejected(gguf_bytes({kArchitecture}, infos, two_tensor_data()),
                  {"tensor \"b\": data [1099511627776, 1099511627776 + 32) lies beyond the 64 bytes of tensor data"});
  infos[1].offset = std::numeric_limits<uint64_t>::max() - 31;  // aligned; offset + size wraps
  expect_rejected(gguf_bytes({kArchitecture}, infos, two_tensor_data()), {"lies beyond"});
}

TEST(GgufBadInput, TensorOffsetMisaligned) {
  std::vector<Info> infos = two_tensors();
  infos[1].offset = 24;
  expect_rejected(gguf_bytes({kArchitecture}, infos, two_tensor_data()),
                  {"tensor \"b\": data offset 24 is not a multiple of the alignment 32"});
}

TEST(GgufBadInput, OverlappingTensorData) {
  std::vector<Info> infos = two_tensors();
  infos[1].offset = 0;
  expect_rejected(gguf_bytes({kArchitecture}, infos, two_tensor_data()),
                  {"tensor \"b\": data at offset 0 overlaps tensor \"a\"", "tensors must not share bytes"});
}

TEST(GgufBadInput, GapBetweenTensors) {
  std::vector<Info> infos = two_tensors();
  infos[1].offset = 64;
  expect_rejected(gguf_bytes({kArchitecture}, infos, two_tensor_data() + std::string(32, '\0')),
                  {"tensor \"b\": data at offset 64 leaves a gap of 32 bytes after tensor \"a\""});
}

TEST(GgufBadInput, TruncatedFile) {
  const std::string bytes = valid_file();
  // Every proper prefix is refused (and none crashes).
  for (size_t n = 0; n < bytes.size(); ++n) {
    const std::string prefix = bytes.substr(0, n);
    EXPECT_THROW(parse(prefix), Error) << "prefix of " << n << " bytes";
  }
  // Cut inside the tensor data, and inside the last tensor's padding.
  expect_rejected(bytes.substr(0, bytes.size() - 16),
                  {"tensor \"b\"", "(data offset out of bounds, or file truncated)"});
  const std::string short_padding = gguf_bytes({kArchitecture}, {{"a", {5}, 0, 0}}, std::string(24, '\0'));
  expect_rejected(short_padding, {"tensor \"a\": file truncated: the tensor's padding to 32 runs past the end"});
  // The same through a real file: the message names its path.
  const std::string path = test::make_temp_dir() + "/cut.gguf";
  write_bytes(path, bytes.substr(0, 90));  // inside tensor a's info, at its type id
  const std::string message = error_of([&] { read_gguf(path); });
  EXPECT_EQ(message.rfind(path + ": byte 89: tensor \"a\": file truncated: need 4 bytes, only 1 remain", 0), 0u)
      << message;
}

TEST(GgufBadInput, TrailingBytesAndNonZeroPadding) {
  expect_rejected(valid_file() + "x", {"1 unexpected trailing bytes after the last tensor's data"});
  std::string bytes = valid_file();
  bytes[bytes.size() - 64 + 25] = 7;  // inside tensor a's padding
  expect_rejected(bytes, {"padding after tensor \"a\": padding byte is 0x7; padding must be zero"});
}

// ---------------------------------------------------------------- writer checks

TEST(GgufWrite, RefusesWhatTheReaderWouldRefuse) {
  const std::string path = test::make_temp_dir() + "/w.gguf";
  const std::vector<OwnedTensor> owned = {make_tensor("a", GgmlType::Q4_0, {32})};
  std::vector<GgufTensor> tensors = views(owned);
  std::string message = error_of([&] {
    write_gguf(path, {{"k", GgufValue::u8(1)}, {"k", GgufValue::u8(2)}}, tensors);
  });
  EXPECT_NE(message.find("duplicate metadata key \"k\""), std::string::npos) << message;
  message = error_of([&] { write_gguf(path, {{"general.alignment", GgufValue::u64(32)}}, tensors); });
  EXPECT_NE(message.find("expected a u32"), std::string::npos) << message;
  tensors[0].nbytes = 17;
  message = error_of([&] { write_gguf(path, {}, tensors); });
  EXPECT_NE(message.find("tensor \"a\": 17 bytes given, but q4_0 with ne [32] takes 18"), std::string::npos)
      << message;
  tensors = views(owned);
  tensors[0].ne = {32, 1, 1, 1, 1};
  message = error_of([&] { write_gguf(path, {}, tensors); });
  EXPECT_NE(message.find("5 dims; ggml allows at most 4"), std::string::npos) << message;
  tensors = views(owned);
  tensors[0].ne = {16, 2};
  message = error_of([&] { write_gguf(path, {}, tensors); });
  EXPECT_NE(message.find("multiple of 32"), std::string::npos) << message;
  EXPECT_THROW(GgufValue::array(GgufType::U8, {GgufValue::u16(1)}), Error);
  std::ifstream probe(path);
  EXPECT_FALSE(probe.good()) << "a refused write must not leave a file";
}

}  // namespace
}  // namespace slmkit
