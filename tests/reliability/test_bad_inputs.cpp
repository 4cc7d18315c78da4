// reliability.md §6.2, one test per bad-input case that applies to a reader we
// have, each asserting the specific error (reader → expected message fragment).
// LibTorch-free, so it also runs in the ASan+UBSan CI job. Cases that need the
// Model or slmkit_core (config vs tensor shapes, NaN weights, calibration
// windows, task files) are in tests/cli/test_reliability_cli.cpp. Some cases repeat tests/io or tests/tokenizer
// on purpose: this file is the audit list of §6.2.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/checked_size.h"
#include "core/limits.h"
#include "io/gguf.h"
#include "io/json.h"
#include "io/llama2c_checkpoint.h"
#include "io/mapped_file.h"
#include "io/safetensors.h"
#include "io/torch_checkpoint.h"
#include "io/torch_test_builders.h"
#include "io/unpickler.h"
#include "model/config.h"
#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/spm_model.h"
#include "tokenizer/text_input.h"
#include "tokenizer/tokenizer_test_util.h"
#include "test_util.h"

namespace slmkit {
namespace {

using nlohmann::json;
using namespace std::string_literals;
using test::expect_error;
using test::le_bytes;

// ---------------------------------------------------------------- helpers

std::shared_ptr<const MappedFile> mem(const std::string& name, const std::string& bytes) {
  return MappedFile::from_bytes(name, bytes);
}

std::string st_file(const std::string& header, const std::string& data) {
  return le_bytes(header.size(), 8) + header + data;
}
std::string st_one(const std::string& entry, size_t data_bytes) {
  return st_file("{\"t\":" + entry + "}", std::string(data_bytes, '\0'));
}
void st_rejects(const std::string& bytes, const std::vector<std::string>& fragments) {
  expect_error([&] { read_safetensors(mem("bad.safetensors", bytes)); }, fragments);
}

// ---------------------------------------------------------------- safetensors

TEST(BadSafetensors, FileShorterThanLengthPrefix) {
  st_rejects("\x01\x02\x03", {"bad.safetensors", "too small to hold the 8-byte header length"});
}

TEST(BadSafetensors, HeaderLengthOverLimitOrPastEnd) {
  st_rejects(le_bytes(200'000'000, 8) + "{}", {"header too large", "200000000"});
  st_rejects(le_bytes(1000, 8) + "{}", {"extends past the end of the file"});
  Limits small;
  small.safetensors_header_bytes = 16;
  expect_error([&] { read_safetensors(mem("x", st_one(R"({"dtype":"U8","shape":[1],"data_offsets":[0,1]})", 1)), small); },
               {"header too large", "at most 16"});
}

TEST(BadSafetensors, HeaderLengthMaxU64DoesNotWrapOrAllocate) {
  st_rejects(le_bytes(~uint64_t{0}, 8) + "{}", {"header too large", "18446744073709551615"});
}

TEST(BadSafetensors, HeaderNotUtf8) {
  st_rejects(st_file("{\"\xc3\x28\":{}}", ""), {"not valid UTF-8", "byte 2 of the header, file offset 10"});
}

TEST(BadSafetensors, HeaderNotStartingWithBrace) {
  st_rejects(st_file(" {}", ""), {"header must start with '{'", "found 0x20"});
}

TEST(BadSafetensors, NulPadding) {
  st_rejects(st_file("{}\0\0\0\0\0\0"s, ""), {"trailing non-space bytes (NUL padding?) at header byte 2"});
}

TEST(BadSafetensors, InvalidJsonOrTrailingGarbage) {
  st_rejects(st_file("{\"t\":", ""), {"invalid JSON at byte"});
  st_rejects(st_file("{} x", ""), {"invalid JSON at byte"});
}

TEST(BadSafetensors, DuplicateTensorName) {
  const std::string e = R"({"dtype":"U8","shape":[1],"data_offsets":[0,1]})";
  st_rejects(st_file("{\"w\":" + e + ",\"w\":" + e + "}", "\x01"), {"duplicate key \"w\""});
}

TEST(BadSafetensors, EmptyOrNulNameOrMetadataHoldingATensor) {
  const std::string e = R"({"dtype":"U8","shape":[1],"data_offsets":[0,1]})";
  st_rejects(st_file("{\"\":" + e + "}", "\x01"), {"invalid tensor name", "(empty)"});
  st_rejects(st_file("{\"a\\u0000b\":" + e + "}", "\x01"), {"invalid tensor name \"a\"", "NUL"});
  st_rejects(st_file("{\"__metadata__\":" + e + "}", "\x01"), {"__metadata__", "must map strings to strings"});
}

TEST(BadSafetensors, MetadataNotAStringMap) {
  st_rejects(st_file(R"({"__metadata__":{"a":1}})", ""), {"must map strings to strings", "key \"a\""});
  st_rejects(st_file(R"({"__metadata__":[]})", ""), {"\"__metadata__\" must be an object"});
}

TEST(BadSafetensors, UnknownDtype) {
  st_rejects(st_one(R"({"dtype":"F9","shape":[1],"data_offsets":[0,4]})", 4), {"tensor \"t\"", "unsupported dtype \"F9\""});
}

TEST(BadSafetensors, InvalidShape) {
  for (const std::string shape : {"[-1]", "[1.5]", "[281474976710656]", "[\"2\"]"})
    st_rejects(st_one(R"({"dtype":"U8","shape":)" + shape + R"(,"data_offsets":[0,0]})", 0),
               {"tensor \"t\"", "field \"shape\"[0]"});
}

TEST(BadSafetensors, SizeOverflow) {
  st_rejects(st_one(R"({"dtype":"F32","shape":[4294967296,4294967296,2],"data_offsets":[0,0]})", 0),
             {"tensor \"t\"", "overflows the element count"});
  st_rejects(st_one(R"({"dtype":"F64","shape":[281474976710655,281474976710655],"data_offsets":[0,0]})", 0),
             {"overflows the element count"});
}

TEST(BadSafetensors, OffsetsReversed) {
  st_rejects(st_one(R"({"dtype":"U8","shape":[1],"data_offsets":[1,0]})", 1), {"begin > end"});
}

TEST(BadSafetensors, ByteLengthDoesNotMatchShape) {
  st_rejects(st_one(R"({"dtype":"F32","shape":[2],"data_offsets":[0,4]})", 4),
             {"size mismatch", "hold 4 bytes", "needs 8 bytes"});
}

TEST(BadSafetensors, HoleOrOverlapPolyglotGuard) {
  st_rejects(st_one(R"({"dtype":"U8","shape":[1],"data_offsets":[3,4]})", 4), {"gap of 3 bytes at the start"});
  const std::string two = R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                          R"("b":{"dtype":"U8","shape":[1],"data_offsets":[2,3]}})";
  st_rejects(st_file(two, "abc"), {"leave a gap of 1 bytes after tensor \"a\""});
  const std::string overlap = R"({"a":{"dtype":"U16","shape":[1],"data_offsets":[0,2]},)"
                              R"("b":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})";
  st_rejects(st_file(overlap, "ab"), {"overlap tensor \"a\""});
}

TEST(BadSafetensors, TiedWeightsShareBytes) {
  const std::string tied = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                           R"("b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  st_rejects(st_file(tied, "abcd"), {"overlap tensor \"a\"", "tensors must not share bytes"});
}

TEST(BadSafetensors, TruncatedOrTrailingBytes) {
  st_rejects(st_one(R"({"dtype":"F32","shape":[2],"data_offsets":[0,8]})", 5),
             {"past the end of the file", "the file is truncated"});
  st_rejects(st_one(R"({"dtype":"F32","shape":[2],"data_offsets":[0,8]})", 11),
             {"3 trailing bytes after the last tensor"});
}

TEST(BadSafetensors, MisalignedDataIsCopiedNeverReadUnaligned) {
  // Header of 7 bytes: data starts at file offset 15, so the F32 is misaligned in the buffer.
  const float value = 1.25f;
  std::string data(4, '\0');
  std::memcpy(data.data(), &value, 4);
  const std::string header = R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  const TensorSet set = read_safetensors(mem("m", st_file(header, data)));
  const TensorView& t = set.tensors.at("t");
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data) % alignof(float), 0u);
  EXPECT_EQ(*reinterpret_cast<const float*>(t.data), value);
}

TEST(BadSafetensors, EmptyTensorsAndScalarsAreAccepted) {
  const std::string header = R"({"e":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]},)"
                             R"("s":{"dtype":"U8","shape":[],"data_offsets":[0,1]}})";
  const TensorSet set = read_safetensors(mem("ok", st_file(header, "\x07")));
  EXPECT_EQ(set.tensors.at("e").numel(), 0);
  EXPECT_EQ(set.tensors.at("s").numel(), 1);
  EXPECT_EQ(set.tensors.at("s").data[0], 7);
}

// Sharded index: every weight_map problem has its own message.
class BadSafetensorsIndex : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::make_temp_dir() + "/model";
    ASSERT_EQ(::mkdir(dir_.c_str(), 0755), 0);
    shard("s1.safetensors", "a");
    shard("s2.safetensors", "b");
  }
  void shard(const std::string& name, const std::string& tensor) {
    const std::string header = "{\"" + tensor + R"(":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})";
    std::ofstream(dir_ + "/" + name, std::ios::binary) << st_file(header, "x");
  }
  void rejects(const json& weight_map, const std::vector<std::string>& fragments) {
    const std::string index = dir_ + "/model.safetensors.index.json";
    std::ofstream(index) << json{{"weight_map", weight_map}}.dump();
    expect_error([&] { read_safetensors_index(index); }, fragments);
  }
  std::string dir_;
};

TEST_F(BadSafetensorsIndex, MissingShard) {
  rejects({{"a", "s1.safetensors"}, {"b", "s3.safetensors"}}, {"names shard \"s3.safetensors\"", "does not exist"});
}
TEST_F(BadSafetensorsIndex, TensorAbsentFromItsShard) {
  rejects({{"a", "s1.safetensors"}, {"b", "s2.safetensors"}, {"c", "s2.safetensors"}},
          {"assigns tensor \"c\"", "that shard does not contain it"});
}
TEST_F(BadSafetensorsIndex, SameTensorInTwoShards) {
  shard("s3.safetensors", "a");
  rejects({{"a", "s1.safetensors"}, {"b", "s3.safetensors"}}, {"tensor \"a\" is present in two shards"});
}
TEST_F(BadSafetensorsIndex, ParentComponentAbsolutePathAndSymlinkEscape) {
  rejects({{"a", "../s1.safetensors"}}, {"\"..\" component"});
  rejects({{"a", "/etc/passwd"}}, {"an absolute path"});
  shard("../outside.safetensors", "a");
  ASSERT_EQ(::symlink("../outside.safetensors", (dir_ + "/link.safetensors").c_str()), 0);
  rejects({{"a", "link.safetensors"}}, {"resolves to", "outside the index's directory"});
}

// ---------------------------------------------------------------- PyTorch .pt

std::string w_pkl(const std::string& key = "w") {
  using namespace test;
  return pk_proto2() + "}(" + pk_str(key) + pk_tensor(pk_storage("FloatStorage", "0", 2), 0, {2}, {1}) + "u.";
}
std::string pt_archive(const std::string& pkl, std::vector<test::ZipRecord> extra = {},
                       const std::string& storage = std::string(8, '\0'), const std::string& prefix = "a/") {
  std::vector<test::ZipRecord> records = {{prefix + "data.pkl", pkl}, {prefix + "version", "3\n"},
                                          {prefix + "data/0", storage}};
  records.insert(records.end(), extra.begin(), extra.end());
  return test::build_zip(records).bytes;
}
void pt_rejects(const std::string& bytes, const std::vector<std::string>& fragments) {
  expect_error([&] { read_torch_checkpoint(mem("bad.pt", bytes)); }, fragments);
}
void pickle_rejects(const std::string& pkl, const std::vector<std::string>& fragments,
                    const pickle::Limits& limits = pickle::Limits{}) {
  expect_error([&] {
    pickle::unpickle(reinterpret_cast<const uint8_t*>(pkl.data()), pkl.size(), "m.pt", "a/data.pkl", limits);
  }, fragments);
}

TEST(BadTorchPt, LegacyNonZipSerialization) {
  pt_rejects("\x80\x02}q\x00."s, {"legacy (pre-1.6, non-zip) torch serialization is not supported"});
  std::string tar(600, '\0');
  tar.replace(257, 5, "ustar");
  pt_rejects(tar, {"legacy (pre-1.6, non-zip)"});
}

TEST(BadTorchPt, OtherWrapperIsNotAZip) {
  pt_rejects("\x1f\x8b\x08\x00" + std::string(40, 'x'), {"not a zip archive"});
  pt_rejects("7z\xbc\xaf\x27\x1c" + std::string(40, 'x'), {"not a zip archive"});
}

TEST(BadTorchPt, MalformedArchiveLayout) {
  pt_rejects(test::build_zip({{"a/version", "3\n"}}).bytes, {"malformed torch archive", "no 'a/data.pkl' record"});
  pt_rejects(pt_archive(w_pkl(), {{"b/extra", "x"}}), {"more than one top-level directory"});
  pt_rejects(test::build_zip({{"a/data.pkl", w_pkl()}, {"a/data/0", std::string(8, '\0')}}).bytes,
             {"no 'a/version' record"});
}

TEST(BadTorchPt, UnsafeEntryNames) {
  pt_rejects(pt_archive(w_pkl(), {{"a/../../etc/x", "x"}}), {"unsafe entry name 'a/../../etc/x'"});
  pt_rejects(pt_archive(w_pkl(), {{"/abs", "x"}}), {"unsafe entry name '/abs'"});
  pt_rejects(pt_archive(w_pkl(), {{"a\\data\\1", "x"}}), {"unsafe entry name"});
}

TEST(BadTorchPt, CentralDirectoryDisagreesOverlapsOrZip64Inconsistent) {
  test::ZipImage img = test::build_zip({{"a/data.pkl", w_pkl()}, {"a/version", "3\n"}, {"a/data/0", std::string(8, '\0')}});
  std::string b = img.bytes;
  test::poke(b, img.local_offsets[1] + 22, 5, 4);  // local size disagrees
  pt_rejects(b, {"corrupt zip", "'a/version' local header", "disagrees with the central directory"});
  b = img.bytes;
  test::poke(b, img.central_offsets[2] + 42, img.local_offsets[1], 4);  // two entries at one offset
  pt_rejects(b, {"corrupt zip"});
  test::ZipOptions z64;
  z64.zip64_end = true;
  img = test::build_zip({{"a/data.pkl", w_pkl()}}, z64);
  b = img.bytes;
  test::poke(b, img.eocd_offset + 10, 2, 2);
  test::poke(b, img.eocd_offset + 8, 2, 2);
  pt_rejects(b, {"entry count is 2 in the end-of-central-directory record but 1 in the zip64 record"});
}

TEST(BadTorchPt, CompressedRecordIsRefusedNotInflated) {
  test::ZipOptions deflate;
  deflate.method = 8;
  pt_rejects(test::build_zip({{"a/data.pkl", w_pkl()}}, deflate).bytes,
             {"is compressed (method 8, deflate)", "only stored (uncompressed) entries"});
}

TEST(BadTorchPt, CrcMismatch) {
  std::string b = pt_archive(w_pkl());
  const size_t at = b.find("3\n");
  b[at] = '4';
  pt_rejects(b, {"entry 'a/version' CRC-32 mismatch"});
}

TEST(BadTorchPt, DisallowedGlobalsRefusedBeforeAnyCall) {
  for (const auto& [module, name] : std::vector<std::pair<std::string, std::string>>{
           {"os", "system"}, {"builtins", "eval"}, {"subprocess", "Popen"}, {"pkgutil", "resolve_name"}})
    pickle_rejects(test::pk_proto2() + test::pk_global(module, name) + "(" + test::pk_str("id") + "tR.",
                   {"non-allowlisted global '" + module + "." + name + "'", "at offset 2"});
}

TEST(BadTorchPt, UnsupportedOpcodes) {
  pickle_rejects(test::pk_proto2() + "(ios\nsystem\n.", {"unsupported pickle opcode 0x69 (INST) at offset 3"});
  pickle_rejects(test::pk_proto2() + "(o.", {"(OBJ)"});
  pickle_rejects(test::pk_proto2() + "\x82\x01.", {"(EXT)"});
  pickle_rejects(test::pk_proto2() + "]" + "}b.", {"BUILD on a list is not supported"});
  pickle_rejects(test::pk_proto2() + "]" + ")R.", {"REDUCE on a list; only allow-listed callables"});
}

TEST(BadTorchPt, MalformedPickleStructure) {
  pickle_rejects(test::pk_proto2() + "a.", {"malformed pickle at offset 2", "stack underflow"});
  pickle_rejects(test::pk_proto2() + "(].", {"MARK(s) still open at STOP"});
  pickle_rejects(test::pk_proto2() + "h\x05.", {"memo index 5 out of range"});
  pickle_rejects(test::pk_proto2() + "}", {"without STOP"});
}

TEST(BadTorchPt, NestingTooDeep) {
  pickle_rejects(test::pk_proto2() + std::string(200, '(') + ".", {"pickle nesting too deep"});
}

TEST(BadTorchPt, MissingStorageRecord) {
  std::string pkl = w_pkl();
  pkl.replace(pkl.find(test::pk_str("0")), test::pk_str("0").size(), test::pk_str("7"));
  pt_rejects(pt_archive(pkl), {"missing storage record 'a/data/7'"});
}

TEST(BadTorchPt, ViewOrStorageExceedsRecord) {
  pt_rejects(pt_archive(w_pkl(), {}, std::string(4, '\0')), {"storage '0'", "should hold 2 F32 elements = 8 bytes", "record has 4 bytes"});
  using namespace test;
  const std::string oob = pk_proto2() + "}(" + pk_str("w") + pk_tensor(pk_storage("FloatStorage", "0", 2), 1, {2}, {1}) + "u.";
  pt_rejects(pt_archive(oob), {"tensor 'w' view exceeds its storage", "reach element 2"});
}

TEST(BadTorchPt, NegativeSizeOrStride) {
  using namespace test;
  const std::string neg_size = pk_global("torch._utils", "_rebuild_tensor_v2") + "(" + pk_storage("FloatStorage", "0", 2) +
                               pk_int1(0) + "(J" + le_bytes(0xFFFFFFFF, 4) + "t(" + pk_int1(1) + "t\x89" +
                               pk_global("collections", "OrderedDict") + ")RtR";
  pickle_rejects(pk_proto2() + "}(" + pk_str("w") + neg_size + "u.", {"size has an entry that is not a non-negative int"});
}

TEST(BadTorchPt, NonContiguousStridesAreMaterialised) {
  using namespace test;
  // 2x2 transposed view of storage [1, 2, 3, 4] → rows (1, 3), (2, 4).
  std::string storage(16, '\0');
  const float v[4] = {1, 2, 3, 4};
  std::memcpy(storage.data(), v, 16);
  const std::string pkl = pk_proto2() + "}(" + pk_str("w") + pk_tensor(pk_storage("FloatStorage", "0", 4), 0, {2, 2}, {1, 2}) + "u.";
  const TensorSet set = read_torch_checkpoint(mem("t.pt", pt_archive(pkl, {}, storage)));
  const float* w = reinterpret_cast<const float*>(set.tensors.at("w").data);
  EXPECT_EQ(std::vector<float>(w, w + 4), (std::vector<float>{1, 3, 2, 4}));
}

TEST(BadTorchPt, ExpandedViewLargerThanTheAllocationLimitIsRefused) {
  using namespace test;
  // size (255, 255, 255) with stride 0: 16.6M floats gathered from one element of
  // an 8-byte record; refused before anything is allocated.
  const std::string pkl = pk_proto2() + "}(" + pk_str("w") +
                          pk_tensor(pk_storage("FloatStorage", "0", 2), 0, {255, 255, 255}, {0, 0, 0}) + "u.";
  Limits small;
  small.alloc_bytes = 1 << 20;
  expect_error([&] { read_torch_checkpoint(mem("bad.pt", pt_archive(pkl)), small); },
               {"tensor 'w' (a non-contiguous view, copied) would need 66325500 bytes", "Limits::alloc_bytes"});
}

TEST(BadTorchPt, UnsupportedStorageKind) {
  using namespace test;
  const std::string pkl = pk_proto2() + "}(" + pk_str("w") + pk_tensor(pk_storage("QInt8Storage", "0", 2), 0, {2}, {1}) + "u.";
  pickle_rejects(pkl, {"non-allowlisted global 'torch.QInt8Storage'"});
}

// ---------------------------------------------------------------- GGUF

struct GgufBuilder {
  uint32_t version = 3;
  std::string kvs, infos, data;
  uint64_t n_kv = 0, n_tensors = 0;
  static std::string str(const std::string& s) { return le_bytes(s.size(), 8) + s; }
  GgufBuilder& kv(const std::string& key, uint32_t type, const std::string& value) {
    kvs += str(key) + le_bytes(type, 4) + value;
    ++n_kv;
    return *this;
  }
  GgufBuilder& tensor(const std::string& name, const std::vector<int64_t>& ne, uint32_t type, uint64_t offset,
                      const std::string& bytes) {
    infos += str(name) + le_bytes(ne.size(), 4);
    for (int64_t d : ne) infos += le_bytes(static_cast<uint64_t>(d), 8);
    infos += le_bytes(type, 4) + le_bytes(offset, 8);
    data += bytes + std::string((32 - bytes.size() % 32) % 32, '\0');
    ++n_tensors;
    return *this;
  }
  std::string bytes(int64_t n_tensors_override = -1, int64_t n_kv_override = -1) const {
    std::string out = "GGUF" + le_bytes(version, 4) +
                      le_bytes(n_tensors_override >= 0 ? n_tensors_override : n_tensors, 8) +
                      le_bytes(n_kv_override >= 0 ? n_kv_override : n_kv, 8) + kvs + infos;
    out += std::string((32 - out.size() % 32) % 32, '\0');
    return out + data;
  }
};
void gguf_rejects(const std::string& bytes, const std::vector<std::string>& fragments) {
  expect_error([&] {
    parse_gguf(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "bad.gguf");
  }, fragments);
}
const std::string kF32x8(32, '\0');

TEST(BadGguf, BadMagic) { gguf_rejects("GGUX" + std::string(40, '\0'), {"not a GGUF file"}); }

TEST(BadGguf, UnsupportedOrByteSwappedVersion) {
  for (uint32_t v : {0u, 1u, 4u}) {
    GgufBuilder b;
    b.version = v;
    gguf_rejects(b.bytes(), {"version"});
  }
  GgufBuilder b;
  b.version = 0x03000000;
  gguf_rejects(b.bytes(), {"version", "0x3000000"});
}

TEST(BadGguf, CountsImpossibleForFileSize) {
  gguf_rejects(GgufBuilder().bytes(int64_t{1} << 40, 0), {"tensor"});
  gguf_rejects(GgufBuilder().bytes(0, int64_t{1} << 40), {"key-value count"});
}

TEST(BadGguf, StringTooLongOrPastEnd) {
  gguf_rejects("GGUF" + le_bytes(3, 4) + le_bytes(0, 8) + le_bytes(1, 8) + le_bytes(uint64_t{1} << 62, 8) + std::string(64, 'k'),
               {"byte 24", "string length"});
}

TEST(BadGguf, ArrayPastEndOrNested) {
  gguf_rejects(GgufBuilder().kv("a", 9, le_bytes(6, 4) + le_bytes(uint64_t{1} << 20, 8)).bytes(), {"array of"});
  // Nesting beyond the limit (arrays of arrays of ...).
  std::string nested = le_bytes(4, 4) + le_bytes(1, 8) + le_bytes(7, 4);
  for (int i = 0; i < 6; ++i) nested = le_bytes(9, 4) + le_bytes(1, 8) + nested;
  gguf_rejects(GgufBuilder().kv("a", 9, nested).bytes(), {"arrays nested deeper than"});
}

TEST(BadGguf, InvalidValueType) { gguf_rejects(GgufBuilder().kv("a", 13, "").bytes(), {"invalid value type 13"}); }

TEST(BadGguf, DuplicateKeyOrTensorName) {
  gguf_rejects(GgufBuilder().kv("a", 4, le_bytes(1, 4)).kv("a", 4, le_bytes(1, 4)).bytes(), {"duplicate key \"a\""});
  gguf_rejects(GgufBuilder().tensor("w", {8}, 0, 0, kF32x8).tensor("w", {8}, 0, 32, kF32x8).bytes(),
               {"duplicate tensor name"});
}

TEST(BadGguf, BadAlignment) {
  for (const std::string& v : {le_bytes(13, 4), le_bytes(0, 4), le_bytes(uint64_t{1} << 21, 4)})
    gguf_rejects(GgufBuilder().kv("general.alignment", 4, v).bytes(), {"general.alignment"});
  gguf_rejects(GgufBuilder().kv("general.alignment", 0, "\x20").bytes(), {"general.alignment"});
}

TEST(BadGguf, TensorNameTooLong) {
  gguf_rejects(GgufBuilder().tensor(std::string(64, 'x'), {8}, 0, 0, kF32x8).bytes(), {"tensor"});
}

TEST(BadGguf, TooManyDims) {
  gguf_rejects(GgufBuilder().tensor("w", {1, 1, 1, 1, 8}, 0, 0, kF32x8).bytes(), {"n_dims is 5"});
}

TEST(BadGguf, SizeOverflowAdvisoryShapes) {
  // GGML_PAD wrap (llama.cpp#24759): F32 ne = [4, 2^30-1, 2^30+1, 1] → nbytes = 2^64-16.
  gguf_rejects(GgufBuilder().tensor("w", {4, (1 << 30) - 1, (1 << 30) + 1, 1}, 0, 0, kF32x8).bytes(), {"overflow"});
  // ggml_nelements sign wrap (issue #27203): ne = (INT64_MAX, 2, 1, 1), I8.
  gguf_rejects(GgufBuilder().tensor("w", {std::numeric_limits<int64_t>::max(), 2, 1, 1}, 24, 0, kF32x8).bytes(),
               {"overflow"});
  gguf_rejects(GgufBuilder().tensor("w", {-1}, 0, 0, kF32x8).bytes(), {"more than 2^63-1"});
}

TEST(BadGguf, UnknownOrRemovedType) {
  for (uint32_t type : {4u, 5u, 31u, 36u, 1000u})
    gguf_rejects(GgufBuilder().tensor("w", {32}, type, 0, kF32x8).bytes(), {"unknown ggml type id"});
}

TEST(BadGguf, RowNotWholeBlocks) {
  gguf_rejects(GgufBuilder().tensor("w", {16}, 8, 0, std::string(34, '\0')).bytes(), {"multiple of 32"});
}

TEST(BadGguf, OffsetsMisalignedGapOrOverlap) {
  gguf_rejects(GgufBuilder().tensor("w", {8}, 0, 4, kF32x8).bytes(), {"not a multiple of the alignment"});
  gguf_rejects(GgufBuilder().tensor("a", {8}, 0, 0, kF32x8).tensor("b", {8}, 0, 0, kF32x8).bytes(), {"overlaps"});
  gguf_rejects(GgufBuilder().tensor("a", {8}, 0, 0, kF32x8).tensor("b", {8}, 0, 64, kF32x8).bytes() +
                   std::string(32, '\0'),
               {"gap"});
}

TEST(BadGguf, TensorBeyondEndOfFile) {
  std::string b = GgufBuilder().tensor("w", {8}, 0, 0, kF32x8).bytes();
  b.resize(b.size() - 10);
  gguf_rejects(b, {"truncated"});
}

TEST(BadGguf, TrailingBytesPolyglotGuard) {
  gguf_rejects(GgufBuilder().tensor("w", {8}, 0, 0, kF32x8).bytes() + "PK\x05\x06" + std::string(18, '\0'),
               {"unexpected trailing bytes"});
}

// ---------------------------------------------------------------- config.json

json llama_config() {
  return {{"model_type", "llama"}, {"vocab_size", 32},       {"hidden_size", 16},
          {"num_hidden_layers", 2}, {"num_attention_heads", 4}, {"num_key_value_heads", 2},
          {"intermediate_size", 32}, {"max_position_embeddings", 64}};
}
void config_rejects(const json& j, const std::vector<std::string>& fragments) {
  expect_error([&] { parse_hf_config(j, "config.json"); }, fragments);
}
std::string write_text(const std::string& name, const std::string& text) {
  const std::string path = test::make_temp_dir() + "/" + name;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

TEST(BadConfig, NotJsonNotObjectTooLargeOrDuplicateKeys) {
  expect_error([&] { read_json_file(write_text("config.json", "{\"a\":")); }, {"config.json", "invalid JSON"});
  config_rejects(json::array(), {"config.json must be a JSON object"});
  Limits small;
  small.side_file_bytes = 10;
  expect_error([&] { read_json_file(write_text("config.json", llama_config().dump()), small); },
               {"more than the limit of 10"});
  expect_error([&] { read_json_file(write_text("config.json", R"({"a":1,"a":2})")); }, {"duplicate key \"a\""});
  expect_error([&] { parse_json_strict(std::string(100, '[') + std::string(100, ']'), "config.json"); },
               {"nested more than 64 levels"});
}

TEST(BadConfig, MissingRequiredField) {
  for (const char* key : {"hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size", "intermediate_size"}) {
    json j = llama_config();
    j.erase(key);
    config_rejects(j, {"missing required key \"" + std::string(key) + "\""});
  }
}

TEST(BadConfig, WrongTypeNonPositiveOrAbsurd) {
  json j = llama_config();
  j["hidden_size"] = "16";
  config_rejects(j, {"\"hidden_size\" must be an integer"});
  j = llama_config();
  j["hidden_size"] = 0;
  config_rejects(j, {"hidden size must be positive"});
  j = llama_config();
  j["num_hidden_layers"] = 1000000000;
  config_rejects(j, {"'num_hidden_layers' invalid: 1000000000"});
  j = llama_config();
  j["vocab_size"] = int64_t{1} << 40;
  config_rejects(j, {"'vocab_size' invalid"});
  j = llama_config();
  j["rope_scaling"] = {{"rope_type", 3}};
  config_rejects(j, {"rope scaling 'rope_type' must be a string"});
  j = llama_config();
  j["eos_token_id"] = int64_t{1} << 33;
  config_rejects(j, {"\"eos_token_id\" must be a token id"});
  j = llama_config();
  j["bos_token_id"] = 40;
  config_rejects(j, {"bos_token_id 40 is outside the vocabulary of 32"});
}

TEST(BadConfig, HeadsThatDoNotDivide) {
  json j = llama_config();
  j["num_attention_heads"] = 5;
  j["num_key_value_heads"] = 5;
  config_rejects(j, {"hidden_size (16) is not divisible by num_attention_heads (5)"});
  j = llama_config();
  j["num_key_value_heads"] = 3;
  config_rejects(j, {"num_attention_heads (4) is not a multiple of num_key_value_heads (3)"});
}

TEST(BadConfig, UnknownArchitectureListsSupported) {
  json j = llama_config();
  j["model_type"] = "mamba";
  config_rejects(j, {"model_type \"mamba\" is not supported", "llama, mistral, qwen2, gpt2"});
}

TEST(BadConfig, CustomCodeKeysAreReportedAndNeverActedOn) {
  json j = llama_config();
  j["auto_map"] = {{"AutoModelForCausalLM", "modeling_x.X"}};
  j["trust_remote_code"] = true;
  j["_attn_implementation_internal"] = "kernels-community/x";
  const ModelConfig c = parse_hf_config(j, "config.json");
  ASSERT_EQ(c.warnings.size(), 3u);
  for (const std::string& w : c.warnings) EXPECT_NE(w.find("custom code present"), std::string::npos) << w;
  EXPECT_NE(c.warnings[0].find("ignored (never executed)"), std::string::npos);
}

TEST(BadConfig, AlreadyQuantizedWithAnotherMethod) {
  json j = llama_config();
  j["quantization_config"] = {{"quant_method", "awq"}, {"bits", 4}, {"group_size", 128}};
  config_rejects(j, {"input is already quantized (method awq)"});
}

TEST(BadConfig, UnknownTorchDtypeIsIgnoredTensorDtypesRule) {
  json j = llama_config();
  j["torch_dtype"] = "float7";
  EXPECT_EQ(parse_hf_config(j, "config.json").hidden_size, 16);
}

TEST(BadConfig, DynamicPatternsCannotBacktrackExponentially) {
  json j = llama_config();
  j["quantization_config"] = {{"quant_method", "gptq"}, {"bits", 4}, {"group_size", 16},
                              {"dynamic", {{"+:(.*)*(.*)*(.*)*x", {{"bits", 8}}}}}};
  const ModelConfig c = parse_hf_config(j, "config.json");
  // Exponential for a backtracking matcher on a 40-character name; linear here.
  EXPECT_EQ(c.quantization.settings_for("model.layers.0.self_attn.q_proj.yyyyyyyyyyy").bits, 4);
  j["quantization_config"]["dynamic"] = {{"+:" + std::string(2000, 'a'), {{"bits", 8}}}};
  config_rejects(j, {"pattern of 2000 characters, more than the limit of 1024"});
  j["quantization_config"]["dynamic"] = {{"+:(a)\\1", {{"bits", 8}}}};
  config_rejects(j, {"is not a regular expression this build understands"});
}

// ---------------------------------------------------------------- tokenizer files

void bpe_rejects(const json& spec, const std::vector<std::string>& fragments) {
  expect_error([&] { BpeTokenizer(spec, json(), "tokenizer.json"); }, fragments);
}

TEST(BadTokenizerJson, InvalidOrTooLarge) {
  expect_error([&] { read_json_file(write_text("tokenizer.json", "{\"model\": [")); }, {"invalid JSON"});
  Limits small;
  small.side_file_bytes = 100;
  expect_error([&] { read_json_file(write_text("tokenizer.json", test::tiny_tokenizer_json({}, false).dump()), small); },
               {"more than the limit of 100"});
}

TEST(BadTokenizerJson, DuplicateOrNonContiguousIdsAddedTokensOutOfRangeUnknownMerges) {
  const json spec = test::tiny_tokenizer_json({{"a", "b"}}, false);
  json bad = spec;
  bad["model"]["vocab"]["zz"] = 5;
  bpe_rejects(bad, {"id 5 is used by two tokens"});
  bad = spec;  // holes are allowed, but the id tables are sized by the largest id
  bad["model"]["vocab"]["zz"] = 1 << 23;
  bpe_rejects(bad, {".vocab: largest id 8388608 is implausible", "Limits::vocab_size"});
  bad = spec;
  bad["added_tokens"] = json::array({{{"id", int64_t{1} << 40}, {"content", "<x>"}}});
  bpe_rejects(bad, {"added_tokens", ".id: out of range"});
  bad = spec;
  bad["model"]["merges"] = json::array({"a q"});
  bad["model"]["vocab"].erase("q");
  bpe_rejects(bad, {"missing from model.vocab ('q')"});
}

void spm_rejects(const std::string& bytes, const std::vector<std::string>& fragments, const Limits& limits = Limits{}) {
  expect_error([&] { parse_spm_model(bytes, "tokenizer.model", limits); }, fragments);
}
std::string pb_varint(uint64_t v) {
  std::string out;
  do {
    out += static_cast<char>((v & 0x7F) | (v >= 0x80 ? 0x80 : 0));
    v >>= 7;
  } while (v);
  return out;
}
std::string pb_bytes(int field, const std::string& payload) {
  return pb_varint(static_cast<uint64_t>(field) << 3 | 2) + pb_varint(payload.size()) + payload;
}
std::string spm_piece(const std::string& text, int type) {
  return pb_bytes(1, pb_bytes(1, text) + pb_varint(3 << 3) + pb_varint(static_cast<uint64_t>(type)));
}

TEST(BadSentencePiece, TruncatedVarintLengthPastEndUnknownWireType) {
  spm_rejects("\x0a\xff", {"truncated varint"});
  spm_rejects("\x0a\x10" "ab", {"runs past the end"});
  spm_rejects("\x0f", {"unsupported protobuf wire type 7"});
}

TEST(BadSentencePiece, PieceTooLongNulInPieceOrDuplicateUnk) {
  Limits small;
  small.token_bytes = 8;
  spm_rejects(spm_piece("<unk>", 2) + spm_piece(std::string(9, 'a'), 1), {"piece 1 is 9 bytes long", "limit of 8"}, small);
  spm_rejects(spm_piece("<unk>", 2) + spm_piece("a\0b"s, 1), {"piece 1 contains a NUL byte at position 1"});
  spm_rejects(spm_piece("<unk>", 2) + spm_piece("<unk2>", 2) + spm_piece("c", 1),
              {"pieces 0 and 1 are both of type UNKNOWN"});
}

TEST(BadSentencePiece, TooManyPieces) {
  Limits small;
  small.vocab_size = 2;
  spm_rejects(spm_piece("<unk>", 2) + spm_piece("a", 1) + spm_piece("b", 1), {"more than 2 pieces"}, small);
}

TEST(BadSentencePiece, SpecialIdOutOfRange) {
  const std::string trainer = pb_bytes(2, pb_varint(41 << 3) + pb_varint(7));  // bos_id = 7
  spm_rejects(spm_piece("<unk>", 2) + trainer, {"bos_id 7 is outside the vocabulary of 1 pieces"});
}

// ---------------------------------------------------------------- llama2.c

TEST(BadLlama2c, ImplausibleHeaderTruncatedOrTrailing) {
  auto header = [](int32_t dim, int32_t hidden, int32_t layers, int32_t heads, int32_t kv, int32_t vocab, int32_t seq) {
    std::string h(28, '\0');
    const int32_t v[7] = {dim, hidden, layers, heads, kv, vocab, seq};
    std::memcpy(h.data(), v, 28);
    return h;
  };
  expect_error([&] { read_llama2c(mem("m.bin", header(-8, 16, 1, 2, 2, 32, 4))); }, {"implausible llama2.c header"});
  expect_error([&] { read_llama2c(mem("m.bin", header(6, 16, 1, 2, 2, 32, 4))); }, {"head dimension", "is odd"});
  expect_error([&] { read_llama2c(mem("m.bin", header(8, 16, 1, 2, 2, 32, 4) + std::string(100, '\0'))); },
               {"llama2.c checkpoint is truncated"});
  expect_error([&] { read_llama2c(mem("m.bin", header(1 << 19, 1 << 19, 1 << 19, 1, 1, 1 << 19, 1))); },
               {"truncated"});
}

// ---------------------------------------------------------------- calibration / evaluation text

TEST(BadCalibrationText, MissingOrEmpty) {
  expect_error([&] { read_text_input("/nonexistent/calib.txt", "calibration text"); }, {"cannot open"});
  expect_error([&] { read_text_input(write_text("c.txt", ""), "calibration text"); },
               {"calibration text", "is empty", "no calibration data"});
  expect_error([&] { check_text_input(" \n\t\n", "calibration text c.txt"); }, {"holds only whitespace"});
}

TEST(BadCalibrationText, InvalidUtf8WithLineAndByte) {
  expect_error([&] { check_text_input("first line\nab \xc3\x28 cd\n", "calibration text c.txt"); },
               {"invalid UTF-8 at line 2 byte 3 (file offset 14)"});
}

TEST(BadCalibrationText, BinaryContent) {
  expect_error([&] { check_text_input("\x7f" "ELF\x02\x01\x01\0\0\0"s, "calibration text a.out"); },
               {"looks binary: a NUL byte at line 1 byte 7"});
}

TEST(BadCalibrationText, FileOverTheLimit) {
  Limits small;
  small.text_file_bytes = 4;
  expect_error([&] { read_text_input(write_text("c.txt", "hello world"), "calibration text", small); },
               {"11 bytes, more than the limit of 4"});
}

// ---------------------------------------------------------------- checked arithmetic

TEST(CheckedSize, OverflowIsAnErrorNotAWrap) {
  EXPECT_EQ(checked_pad(33, 32, "x"), 64u);
  expect_error([] { checked_pad(~uint64_t{0} - 3, 32, "nbytes"); }, {"nbytes overflows 64 bits"});
  expect_error([] { checked_mul(uint64_t{1} << 33, uint64_t{1} << 31, "n"); }, {"n overflows 64 bits"});
  expect_error([] { checked_numel({int64_t{1} << 62, 4, 0}, "t"); }, {"t element count overflows 64 bits"});
  EXPECT_EQ(checked_numel({5, 0, 7}, "t"), 0u);
  expect_error([] { checked_numel({3, -1}, "t"); }, {"negative dimension -1"});
}

}  // namespace
}  // namespace slmkit
