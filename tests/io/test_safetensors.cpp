// safetensors reader/writer: every rule of the reference parser, the reference
// writer's byte layout, sharded indexes, and the real stories260K checkpoint.
#include <dirent.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/safetensors.h"
#include "test_util.h"

namespace slmkit {
namespace {

using namespace std::string_literals;

std::string le64(uint64_t n) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out;
}

// A file image: length prefix, header text, data bytes.
std::string file_image(const std::string& header, const std::string& data) {
  return le64(header.size()) + header + data;
}

std::string write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> names;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') names.emplace_back(e->d_name);
    ::closedir(d);
  }
  return names;
}

using test::error_of;

// Reads `bytes` as a file and expects an Error naming the file and each fragment.
void expect_rejected(const std::string& bytes, std::initializer_list<std::string> fragments) {
  const std::string path = test::make_temp_dir() + "/bad.safetensors";
  write_bytes(path, bytes);
  const std::string message = error_of([&] { read_safetensors(path); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
  for (const std::string& fragment : fragments)
    EXPECT_NE(message.find(fragment), std::string::npos)
        << "missing \"" << fragment << "\" in: " << message;
}

// One-tensor file whose entry is `entry` (JSON) and whose data is `data_bytes` zeros.
std::string one_tensor(const std::string& entry, size_t data_bytes) {
  return file_image("{\"t\":" + entry + "}", std::string(data_bytes, '\0'));
}

TensorView make_view(DType dtype, std::vector<int64_t> shape, uint8_t seed) {
  TensorView view;
  view.dtype = dtype;
  view.shape = std::move(shape);
  auto bytes = std::make_shared<std::vector<uint8_t>>(view.nbytes());
  for (size_t i = 0; i < bytes->size(); ++i) (*bytes)[i] = static_cast<uint8_t>(seed + 7 * i);
  view.data = bytes->data();
  view.owner = bytes;
  return view;
}

bool same_bytes(const TensorView& a, const TensorView& b) {
  if (a.nbytes() != b.nbytes()) return false;
  return a.nbytes() == 0 || std::memcmp(a.data, b.data, a.nbytes()) == 0;  // memcmp: no nulls
}

const std::string kMinimalHeader =
    R"({"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}})";

// ---------------------------------------------------------------- reading

TEST(SafetensorsRead, MinimalFileFromReference) {
  const std::string bytes = "<\0\0\0\0\0\0\0"s + kMinimalHeader + std::string(16, '\0');
  ASSERT_EQ(bytes.size(), 8u + 60u + 16u);
  const std::string path = write_bytes(test::make_temp_dir() + "/min.safetensors", bytes);
  const TensorSet set = read_safetensors(path);
  ASSERT_EQ(set.tensors.size(), 1u);
  const TensorView* t = set.find("test");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->dtype, DType::I32);
  EXPECT_EQ(t->shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(t->nbytes(), 16u);
  EXPECT_TRUE(set.metadata.empty());
}

TEST(SafetensorsRead, AcceptsWhitespaceAfterHeader) {
  const std::string path =
      write_bytes(test::make_temp_dir() + "/ws.safetensors",
                  file_image(kMinimalHeader + "  \r\n", std::string(16, '\0')));
  EXPECT_EQ(read_safetensors(path).tensors.size(), 1u);
}

// The format says the header MUST begin with '{' (README; reliability.md §6.2):
// nothing may hide in front of it.
TEST(SafetensorsReject, HeaderNotStartingWithBrace) {
  expect_rejected(file_image(" \n\t" + kMinimalHeader, std::string(16, '\0')),
                  {"must start with '{'", "found 0x20"});
}

TEST(SafetensorsRead, ScalarsEmptyTensorsAndHeaderOrder) {
  // Header order differs from offset order; the empty tensor sits between two others.
  const std::string header = R"({"z":{"dtype":"F32","shape":[],"data_offsets":[0,4]},)"
                             R"("__metadata__":{"format":"pt"},)"
                             R"("b":{"dtype":"U8","shape":[3],"data_offsets":[4,7]},)"
                             R"("a":{"dtype":"F16","shape":[0,5],"data_offsets":[4,4]}})";
  const float scalar = 1.5f;
  std::string data(reinterpret_cast<const char*>(&scalar), 4);
  data += "\x01\x02\x03";
  const std::string path =
      write_bytes(test::make_temp_dir() + "/m.safetensors", file_image(header, data));
  const TensorSet set = read_safetensors(path);
  ASSERT_EQ(set.tensors.size(), 3u);
  EXPECT_TRUE(set.find("z")->shape.empty());
  EXPECT_EQ(set.find("z")->numel(), 1);
  float read_scalar = 0;
  std::memcpy(&read_scalar, set.find("z")->data, 4);
  EXPECT_EQ(read_scalar, 1.5f);
  EXPECT_EQ(set.find("a")->nbytes(), 0u);
  EXPECT_EQ(set.find("b")->data[2], 3);
  EXPECT_EQ(set.metadata.at("format"), "pt");
}

TEST(SafetensorsRead, FileWithoutTensors) {
  const std::string path =
      write_bytes(test::make_temp_dir() + "/e.safetensors", file_image("{}      ", ""));
  EXPECT_TRUE(read_safetensors(path).tensors.empty());
}

TEST(SafetensorsRead, MisalignedTensorIsCopiedToAlignedMemory) {
  std::string header = R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  while ((8 + header.size()) % 4 != 1) header += ' ';  // data starts at an odd offset
  const float values[2] = {3.25f, -7.0f};
  const std::string path =
      write_bytes(test::make_temp_dir() + "/odd.safetensors",
                  file_image(header, std::string(reinterpret_cast<const char*>(values), 8)));
  const TensorSet set = read_safetensors(path);
  const TensorView* x = set.find("x");
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(x->data) % 4, 0u);
  EXPECT_EQ(reinterpret_cast<const float*>(x->data)[0], 3.25f);
  EXPECT_EQ(reinterpret_cast<const float*>(x->data)[1], -7.0f);
}

TEST(SafetensorsRead, ViewOutlivesTheTensorSet) {
  const std::string path = write_bytes(test::make_temp_dir() + "/v.safetensors",
                                       file_image(R"({"t":{"dtype":"U8","shape":[2],)"
                                                  R"("data_offsets":[0,2]}})",
                                                  "\x2a\x2b"));
  TensorView kept;
  {
    const TensorSet set = read_safetensors(path);
    kept = *set.find("t");
  }
  ::unlink(path.c_str());  // the mapping, held by `owner`, stays valid
  ASSERT_NE(kept.owner, nullptr);
  EXPECT_EQ(kept.data[0], 0x2a);
  EXPECT_EQ(kept.data[1], 0x2b);
}

TEST(SafetensorsRead, RealStories260kModel) {
  const TensorSet set = read_safetensors(test::data_path("models/stories260k/model.safetensors"));
  EXPECT_EQ(set.tensors.size(), 47u);  // 48 header entries, one is __metadata__
  EXPECT_EQ(set.metadata.at("format"), "pt");
  const TensorView* embed = set.find("model.embed_tokens.weight");
  ASSERT_NE(embed, nullptr);
  EXPECT_EQ(embed->dtype, DType::F32);
  EXPECT_EQ(embed->shape, (std::vector<int64_t>{512, 64}));
  const auto at = [](const TensorView* t, size_t i) {
    float v;
    std::memcpy(&v, t->data + 4 * i, 4);
    return v;
  };
  // Values read from the file with Python's struct module.
  EXPECT_EQ(at(embed, 0), -0.294748783f);
  EXPECT_EQ(at(embed, 1), 0.561895609f);
  EXPECT_EQ(at(embed, 100 * 64 + 7), 0.0254908465f);
  EXPECT_EQ(at(embed, 511 * 64 + 63), -0.424032599f);
  EXPECT_EQ(at(set.find("model.norm.weight"), 0), 2.45830894f);
  EXPECT_EQ(at(set.find("model.layers.4.self_attn.v_proj.weight"), 32 * 64 - 1), 0.0883691236f);
  EXPECT_EQ(at(set.find("model.layers.2.mlp.down_proj.weight"), 5 * 172 + 3), -0.144496143f);
  EXPECT_EQ(set.find("model.layers.2.mlp.down_proj.weight")->shape,
            (std::vector<int64_t>{64, 172}));
  // No copies: every tensor is 4-aligned and borrows the one mapping.
  for (const auto& [name, view] : set.tensors) EXPECT_EQ(view.owner, embed->owner) << name;
}

// ---------------------------------------------------------------- rejection, rule by rule

TEST(SafetensorsReject, FileSmallerThanLengthPrefix) {  // HeaderTooSmall
  expect_rejected("\x05\0\0\0"s, {"4 bytes", "too small"});
  expect_rejected("", {"0 bytes", "too small"});
}

TEST(SafetensorsReject, HeaderTooLarge) {  // HeaderTooLarge
  expect_rejected(le64(100'000'001) + "{}", {"header too large", "100000001"});
  expect_rejected(le64(~uint64_t{0}) + "{}", {"header too large"});
}

TEST(SafetensorsReject, HeaderExtendsPastFile) {  // InvalidHeaderLength
  expect_rejected(le64(61) + kMinimalHeader, {"extends past the end", "61"});
}

TEST(SafetensorsReject, InvalidUtf8) {  // InvalidHeader
  expect_rejected(file_image("{\"te\xC0\xAFst\":{}}", ""), {"not valid UTF-8", "byte 4"});
  expect_rejected(file_image("{\"\xED\xA0\x80\":{}}", ""), {"not valid UTF-8"});  // surrogate
  expect_rejected(file_image("{\"\xF4\x90\x80\x80\":{}}", ""), {"not valid UTF-8"});
  expect_rejected(file_image("{\"\xE2\x82\":{}}", ""), {"not valid UTF-8"});  // truncated
}

TEST(SafetensorsReject, InvalidJson) {  // InvalidHeaderDeserialization
  expect_rejected(file_image(R"({"test":{"dtype":"I32",})", ""), {"invalid JSON"});
  expect_rejected(file_image(kMinimalHeader + "\0\0"s, std::string(16, '\0')),
                  {"trailing non-space bytes (NUL padding?) at header byte 60"});  // not JSON whitespace
}

TEST(SafetensorsReject, DuplicateTensorName) {
  const std::string entry = R"({"dtype":"U8","shape":[1],"data_offsets":[0,1]})";
  expect_rejected(file_image("{\"w\":" + entry + ",\"w\":" + entry + "}", "\x01"),
                  {"duplicate key \"w\""});
}

TEST(SafetensorsReject, HeaderOrEntryNotAnObject) {
  expect_rejected(file_image("[1,2]", ""), {"must start with '{'", "found 0x5b"});
  expect_rejected(file_image(R"({"t":[0,16]})", ""), {"tensor \"t\"", "expected an object"});
}

TEST(SafetensorsReject, MetadataNotAStringMap) {
  expect_rejected(file_image(R"({"__metadata__":{"epochs":3}})", ""),
                  {"__metadata__", "\"epochs\"", "number"});
  expect_rejected(file_image(R"({"__metadata__":"pt"})", ""), {"__metadata__", "object"});
}

TEST(SafetensorsReject, UnknownDtype) {
  expect_rejected(one_tensor(R"({"dtype":"F31","shape":[1],"data_offsets":[0,4]})", 4),
                  {"tensor \"t\"", "unknown or unsupported dtype \"F31\"", "F32"});
  expect_rejected(one_tensor(R"({"dtype":4,"shape":[1],"data_offsets":[0,4]})", 4),
                  {"\"dtype\" must be a string"});
}

TEST(SafetensorsReject, ExtraField) {
  expect_rejected(one_tensor(R"({"dtype":"U8","shape":[1],"data_offsets":[0,1],"strides":[1]})", 1),
                  {"tensor \"t\"", "unexpected extra field \"strides\""});
}

TEST(SafetensorsReject, MissingField) {
  expect_rejected(one_tensor(R"({"dtype":"U8","shape":[1]})", 1),
                  {"tensor \"t\"", "missing field \"data_offsets\""});
  expect_rejected(one_tensor(R"({"dtype":"U8","data_offsets":[0,1]})", 1),
                  {"missing field \"shape\""});
}

TEST(SafetensorsReject, BadShapeIntegers) {
  expect_rejected(one_tensor(R"({"dtype":"U8","shape":[-1],"data_offsets":[0,1]})", 1),
                  {"\"shape\"[0]", "negative number (-1)"});
  expect_rejected(one_tensor(R"({"dtype":"U8","shape":[1.0],"data_offsets":[0,1]})", 1),
                  {"\"shape\"[0]", "non-integer"});
  expect_rejected(
      one_tensor(R"({"dtype":"U8","shape":[1,281474976710656],"data_offsets":[0,1]})", 1),
      {"\"shape\"[1]", "2^48-1", "281474976710656"});
  expect_rejected(one_tensor(R"({"dtype":"U8","shape":"1","data_offsets":[0,1]})", 1),
                  {"\"shape\" must be an array"});
}

TEST(SafetensorsReject, BadOffsetIntegers) {
  expect_rejected(one_tensor(R"({"dtype":"U8","shape":[0],"data_offsets":[-1,0]})", 0),
                  {"\"data_offsets\"[0]", "negative"});
  expect_rejected(one_tensor(R"({"dtype":"U8","shape":[1],"data_offsets":[0,1e0]})", 1),
                  {"\"data_offsets\"[1]", "non-integer"});
  expect_rejected(
      one_tensor(R"({"dtype":"U8","shape":[0],"data_offsets":[0,18446744073709551616]})", 0),
      {"\"data_offsets\"[1]"});  // > 2^64-1: nlohmann makes it a float
  expect_rejected(one_tensor(R"({"dtype":"U8","shape":[0],"data_offsets":[281474976710656,0]})", 0),
                  {"\"data_offsets\"[0]", "2^48-1"});
  expect_rejected(one_tensor(R"({"dtype":"U8","shape":[1],"data_offsets":[0,1,2]})", 1),
                  {"[begin, end]"});
}

TEST(SafetensorsReject, BeginAfterEnd) {
  expect_rejected(one_tensor(R"({"dtype":"U8","shape":[0],"data_offsets":[4,0]})", 4),
                  {"tensor \"t\"", "begin > end"});
}

TEST(SafetensorsReject, FirstTensorNotAtZero) {  // InvalidOffset
  expect_rejected(one_tensor(R"({"dtype":"U8","shape":[2],"data_offsets":[2,4]})", 4),
                  {"tensor \"t\"", "gap of 2 bytes at the start"});
}

TEST(SafetensorsReject, GapBetweenTensors) {  // InvalidOffset
  const std::string header = R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},)"
                             R"("b":{"dtype":"U8","shape":[2],"data_offsets":[6,8]}})";
  expect_rejected(file_image(header, std::string(8, 'x')),
                  {"tensor \"b\"", "gap of 4 bytes", "\"a\""});
}

TEST(SafetensorsReject, OverlappingTensors) {  // InvalidOffset
  const std::string header = R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                             R"("b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}})";
  expect_rejected(file_image(header, std::string(6, 'x')), {"tensor \"b\"", "overlap", "\"a\""});
}

TEST(SafetensorsReject, ElementCountOrByteSizeOverflow) {  // ValidationOverflow
  expect_rejected(one_tensor(R"({"dtype":"U8","shape":[281474976710655,281474976710655],)"
                             R"("data_offsets":[0,0]})",
                             0),
                  {"tensor \"t\"", "overflows the element count"});
  expect_rejected(one_tensor(R"({"dtype":"F64","shape":[1099511627776,4194304],)"
                             R"("data_offsets":[0,0]})",
                             0),
                  {"tensor \"t\"", "overflows the byte size"});
}

TEST(SafetensorsReject, SizeMismatch) {  // TensorInvalidInfo
  expect_rejected(one_tensor(R"({"dtype":"I32","shape":[2,2],"data_offsets":[0,12]})", 12),
                  {"tensor \"t\"", "size mismatch", "hold 12 bytes", "needs 16 bytes"});
}

TEST(SafetensorsReject, TrailingBytes) {  // MetadataIncompleteBuffer
  expect_rejected(file_image(kMinimalHeader, std::string(17, '\0')),
                  {"1 trailing bytes", "\"test\""});
  expect_rejected(file_image("{}", "junk"), {"4 trailing bytes"});
}

TEST(SafetensorsReject, DataTruncated) {  // MetadataIncompleteBuffer, other side
  expect_rejected(file_image(kMinimalHeader, std::string(15, '\0')),
                  {"tensor \"test\"", "past the end of the file", "truncated"});
}

TEST(SafetensorsReject, MissingFileNamesPath) {
  const std::string path = test::make_temp_dir() + "/nope.safetensors";
  const std::string message = error_of([&] { read_safetensors(path); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
}

// ---------------------------------------------------------------- writing

TEST(SafetensorsWrite, MatchesReferenceWriterBytes) {
  // Expected bytes from the reference implementation's own tests (tensor.rs).
  const std::string dir = test::make_temp_dir();
  const float values[6] = {0, 1, 2, 3, 4, 5};
  TensorView attn;
  attn.dtype = DType::F32;
  attn.shape = {1, 2, 3};
  attn.data = reinterpret_cast<const uint8_t*>(values);
  write_safetensors(dir + "/a.safetensors", {{"attn.0", attn}});
  const std::string header = R"({"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}})";
  EXPECT_EQ(read_bytes(dir + "/a.safetensors"),
            le64(64) + header + std::string(reinterpret_cast<const char*>(values), 24));

  write_safetensors(dir + "/e.safetensors", {}, {{"framework", "pt"}});
  EXPECT_EQ(read_bytes(dir + "/e.safetensors"),
            le64(40) + R"({"__metadata__":{"framework":"pt"}})" + "     ");
  write_safetensors(dir + "/n.safetensors", {});
  EXPECT_EQ(read_bytes(dir + "/n.safetensors"), le64(8) + "{}      ");
}

TEST(SafetensorsWrite, RoundTripPreservesEverythingInReferenceOrder) {
  const std::map<std::string, TensorView> tensors = {
      {"b.f32", make_view(DType::F32, {2, 3}, 1)}, {"a.f32", make_view(DType::F32, {}, 2)},
      {"i64", make_view(DType::I64, {3}, 3)},      {"bf", make_view(DType::BF16, {5}, 4)},
      {"u8", make_view(DType::U8, {7}, 5)},        {"flag", make_view(DType::BOOL, {3}, 6)},
      {"empty", make_view(DType::F16, {0, 4}, 7)}, {"f8", make_view(DType::F8_E4M3, {2}, 8)},
      {"名前", make_view(DType::U16, {1}, 9)},
  };
  const std::map<std::string, std::string> metadata = {{"format", "pt"}, {"note", "a \"q\"\n"}};
  const std::string path = test::make_temp_dir() + "/rt.safetensors";
  write_safetensors(path, tensors, metadata);

  const TensorSet set = read_safetensors(path);
  EXPECT_EQ(set.metadata, metadata);
  ASSERT_EQ(set.tensors.size(), tensors.size());
  for (const auto& [name, expected] : tensors) {
    const TensorView* got = set.find(name);
    ASSERT_NE(got, nullptr) << name;
    EXPECT_EQ(got->dtype, expected.dtype) << name;
    EXPECT_EQ(got->shape, expected.shape) << name;
    EXPECT_TRUE(same_bytes(*got, expected)) << name;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(got->data) % dtype_size(got->dtype), 0u) << name;
  }

  const std::string bytes = read_bytes(path);
  uint64_t header_bytes = 0;
  for (int i = 7; i >= 0; --i) header_bytes = (header_bytes << 8) | static_cast<uint8_t>(bytes[i]);
  EXPECT_EQ(header_bytes % 8, 0u);
  const std::string header = bytes.substr(8, header_bytes);
  EXPECT_EQ(header.rfind("{\"__metadata__\":{", 0), 0u) << header;
  // Descending reference alignment (I64 > F32 > BF16 > F16 > U16 ...), then name.
  const std::vector<std::string> order = {"i64",  "a.f32", "b.f32", "bf",  "empty",
                                          "名前", "f8",    "u8",    "flag"};
  size_t previous = 0;
  for (const std::string& name : order) {
    const size_t at = header.find("\"" + name + "\":{\"dtype\"");
    ASSERT_NE(at, std::string::npos) << name;
    EXPECT_GT(at, previous) << name << " out of order in " << header;
    previous = at;
  }
}

TEST(SafetensorsWrite, RefusesHeaderOver100MB) {
  const std::string path = test::make_temp_dir() + "/big.safetensors";
  const std::string message = error_of([&] {
    write_safetensors(path, {}, {{"blob", std::string(100'000'000, 'x')}});
  });
  EXPECT_NE(message.find("100000000"), std::string::npos) << message;
  EXPECT_EQ(::access(path.c_str(), F_OK), -1);
}

TEST(SafetensorsWrite, FailedWriteLeavesPreviousFileAndNoLeftovers) {
  const std::string dir = test::make_temp_dir();
  const std::string path = dir + "/m.safetensors";
  write_safetensors(path, {{"w", make_view(DType::F32, {4}, 1)}});
  const std::string before = read_bytes(path);

  TensorView no_data;
  no_data.shape = {4};
  EXPECT_NE(error_of([&] {
              write_safetensors(path, {{"w", no_data}});
            }).find("no data"),
            std::string::npos);
  TensorView negative_dim = make_view(DType::U8, {1}, 0);
  negative_dim.shape = {-1};
  EXPECT_NE(error_of([&] {
              write_safetensors(path, {{"w", negative_dim}});
            }).find("[-1]"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              write_safetensors(path, {{"__metadata__", make_view(DType::U8, {1}, 0)}});
            }).find("reserved"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              write_safetensors(path, {{"bad\xff", make_view(DType::U8, {1}, 0)}});
            }).find("UTF-8"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              write_safetensors(dir + "/no/such/dir/x.safetensors", {});
            }).find("no/such/dir"),
            std::string::npos);

  EXPECT_EQ(read_bytes(path), before);
  EXPECT_EQ(list_dir(dir), (std::vector<std::string>{"m.safetensors"}));
}

TEST(SafetensorsWrite, CanOverwriteTheFileItsViewsBorrowFrom) {
  const std::string path = test::make_temp_dir() + "/self.safetensors";
  const TensorView original = make_view(DType::I32, {8}, 3);
  write_safetensors(path, {{"w", original}});
  {
    const TensorSet set = read_safetensors(path);
    write_safetensors(path, {{"w", *set.find("w")}, {"v", make_view(DType::U8, {1}, 0)}});
  }
  const TensorSet after = read_safetensors(path);
  EXPECT_TRUE(same_bytes(*after.find("w"), original));
  EXPECT_EQ(after.tensors.size(), 2u);
}

// ---------------------------------------------------------------- sharded checkpoints

struct ShardedDir {
  std::string dir = test::make_temp_dir();
  std::string index = dir + "/model.safetensors.index.json";
  TensorView a = make_view(DType::F32, {2, 2}, 1);
  TensorView b = make_view(DType::BF16, {3}, 2);
  TensorView c = make_view(DType::I64, {1}, 3);

  ShardedDir() {
    write_safetensors(dir + "/model-00001-of-00002.safetensors", {{"a", a}, {"b", b}},
                      {{"format", "pt"}});
    write_safetensors(dir + "/model-00002-of-00002.safetensors", {{"c", c}}, {{"format", "pt"}});
  }
  void write_index(const std::string& weight_map_json) const {
    write_bytes(index, R"({"metadata":{"total_size":38},"weight_map":)" + weight_map_json + "}");
  }
  std::string read_error() const {
    return error_of([&] { read_safetensors_index(index); });
  }
};

const std::string kShard1 = "model-00001-of-00002.safetensors";
const std::string kShard2 = "model-00002-of-00002.safetensors";

TEST(SafetensorsIndex, ShardedRoundTrip) {
  const ShardedDir d;
  d.write_index(R"({"a":")" + kShard1 + R"(","b":"./)" + kShard1 + R"(","c":")" + kShard2 +
                R"("})");
  TensorView kept;
  {
    const TensorSet set = read_safetensors_index(d.index);
    ASSERT_EQ(set.tensors.size(), 3u);
    EXPECT_TRUE(same_bytes(*set.find("a"), d.a));
    EXPECT_TRUE(same_bytes(*set.find("b"), d.b));
    EXPECT_TRUE(same_bytes(*set.find("c"), d.c));
    EXPECT_EQ(set.find("b")->shape, d.b.shape);
    EXPECT_EQ(set.find("a")->owner, set.find("b")->owner);  // same shard mapping
    EXPECT_NE(set.find("a")->owner, set.find("c")->owner);
    EXPECT_EQ(set.metadata.at("format"), "pt");
    kept = *set.find("c");
  }
  EXPECT_TRUE(same_bytes(kept, d.c));  // the shard stays mapped through the owner
}

TEST(SafetensorsIndex, RejectsAbsoluteShardPath) {
  const ShardedDir d;
  d.write_index(R"({"a":"/etc/passwd"})");
  const std::string message = d.read_error();
  EXPECT_NE(message.find("\"a\""), std::string::npos) << message;
  EXPECT_NE(message.find("absolute path"), std::string::npos) << message;
}

TEST(SafetensorsIndex, RejectsParentDirectoryComponents) {
  const ShardedDir d;
  for (const std::string& name :
       std::vector<std::string>{"../" + kShard1, "sub/../../x.safetensors", "..", "a/.."}) {
    d.write_index(R"({"a":")" + name + R"("})");
    const std::string message = d.read_error();
    EXPECT_NE(message.find("\"..\" component"), std::string::npos) << name << ": " << message;
  }
}

TEST(SafetensorsIndex, RejectsSymlinkLeadingOutside) {
  const ShardedDir d;
  const std::string outside = test::make_temp_dir() + "/elsewhere.safetensors";
  write_safetensors(outside, {{"a", d.a}});
  ASSERT_EQ(::symlink(outside.c_str(), (d.dir + "/link.safetensors").c_str()), 0);
  d.write_index(R"({"a":"link.safetensors"})");
  const std::string message = d.read_error();
  EXPECT_NE(message.find("outside the index's directory"), std::string::npos) << message;
}

TEST(SafetensorsIndex, RejectsMissingShard) {
  const ShardedDir d;
  d.write_index(R"({"a":")" + kShard1 + R"(","b":")" + kShard1 +
                R"(","c":"model-00003-of-00003.safetensors"})");
  const std::string message = d.read_error();
  EXPECT_NE(message.find("model-00003-of-00003.safetensors"), std::string::npos) << message;
  EXPECT_NE(message.find("does not exist"), std::string::npos) << message;
}

TEST(SafetensorsIndex, RejectsTensorMissingFromItsShard) {
  const ShardedDir d;
  d.write_index(R"({"a":")" + kShard1 + R"(","b":")" + kShard1 + R"(","c":")" + kShard2 +
                R"(","d":")" + kShard2 + R"("})");
  const std::string message = d.read_error();
  EXPECT_NE(message.find("tensor \"d\""), std::string::npos) << message;
  EXPECT_NE(message.find(kShard2), std::string::npos) << message;
  EXPECT_NE(message.find("does not contain it"), std::string::npos) << message;
}

TEST(SafetensorsIndex, RejectsTensorAbsentFromWeightMap) {
  const ShardedDir d;
  d.write_index(R"({"a":")" + kShard1 + R"(","c":")" + kShard2 + R"("})");
  const std::string message = d.read_error();
  EXPECT_NE(message.find("tensor \"b\""), std::string::npos) << message;
  EXPECT_NE(message.find(kShard1), std::string::npos) << message;
  EXPECT_NE(message.find("absent from weight_map"), std::string::npos) << message;
}

TEST(SafetensorsIndex, RejectsTensorInTwoShards) {
  const ShardedDir d;
  write_safetensors(d.dir + "/" + kShard2, {{"c", d.c}, {"a", d.a}});
  d.write_index(R"({"a":")" + kShard1 + R"(","b":")" + kShard1 + R"(","c":")" + kShard2 + R"("})");
  const std::string message = d.read_error();
  EXPECT_NE(message.find("tensor \"a\" is present in two shards"), std::string::npos) << message;
  EXPECT_NE(message.find(kShard1), std::string::npos) << message;
  EXPECT_NE(message.find(kShard2), std::string::npos) << message;
}

TEST(SafetensorsIndex, RejectsTensorInAnotherShardThanListed) {
  const ShardedDir d;
  d.write_index(R"({"a":")" + kShard1 + R"(","b":")" + kShard2 + R"(","c":")" + kShard2 + R"("})");
  const std::string message = d.read_error();
  EXPECT_NE(message.find("tensor \"b\" is in shard \"" + kShard1 +
                         "\" but weight_map assigns it to shard \"" + kShard2),
            std::string::npos)
      << message;
}

TEST(SafetensorsIndex, RejectsMalformedIndex) {
  const ShardedDir d;
  write_bytes(d.index, R"({"weight_map":{"a":")" + kShard1 + R"(","a":")" + kShard2 + R"("}})");
  EXPECT_NE(d.read_error().find("duplicate key \"a\""), std::string::npos);
  write_bytes(d.index, R"({"metadata":{}})");
  EXPECT_NE(d.read_error().find("missing \"weight_map\""), std::string::npos);
  write_bytes(d.index, R"({"weight_map":{"a":1}})");
  EXPECT_NE(d.read_error().find("tensor \"a\""), std::string::npos);
  write_bytes(d.index, R"({"weight_map":{"a":")" + kShard1 + R"("},"extra":1})");
  EXPECT_NE(d.read_error().find("unexpected top-level key \"extra\""), std::string::npos);
  EXPECT_NE(d.read_error().find(d.index), std::string::npos);
}

}  // namespace
}  // namespace slmkit
