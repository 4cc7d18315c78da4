// PyTorch `torch.save` checkpoints read without LibTorch: every loadable fixture
// matches its safetensors twin (names, dtypes, shapes, bytes); tied weights and
// views share the mapping; hostile and broken files fail with specific errors.
// Fixtures come from tests/fixtures/torch/make_fixtures.py (python3-torch 1.13).
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <sys/stat.h>

#include <gtest/gtest.h>

#include "io/safetensors.h"
#include "io/torch_checkpoint.h"
#include "torch_test_builders.h"

namespace slmkit {
namespace {

using namespace std::string_literals;
using test::build_zip;
using test::expect_error;
using test::pk_global;
using test::pk_proto2;
using test::pk_storage;
using test::pk_str;
using test::pk_tensor;
using test::write_temp_file;

std::string fixture(const std::string& name) { return test::fixture_path("torch/" + name); }

void expect_same_as_twin(const std::string& pt, const std::string& twin) {
  SCOPED_TRACE(pt);
  const TensorSet got = read_torch_checkpoint(fixture(pt));
  const TensorSet want = read_safetensors(fixture(twin));
  ASSERT_EQ(got.tensors.size(), want.tensors.size());
  for (const auto& [name, w] : want.tensors) {
    const TensorView* g = got.find(name);
    ASSERT_NE(g, nullptr) << name;
    EXPECT_EQ(g->dtype, w.dtype) << name;
    EXPECT_EQ(g->shape, w.shape) << name;
    ASSERT_EQ(g->nbytes(), w.nbytes()) << name;
    EXPECT_TRUE(g->nbytes() == 0 || std::memcmp(g->data, w.data, w.nbytes()) == 0) << name;
    EXPECT_NE(g->owner, nullptr) << name;
    if (g->nbytes() > 0) {
      EXPECT_EQ(reinterpret_cast<uintptr_t>(g->data) % dtype_size(g->dtype), 0u) << name;
    }
  }
}

TEST(TorchCheckpoint, MatchesSafetensorsTwins) {
  expect_same_as_twin("tied.pt", "tied.safetensors");
  expect_same_as_twin("plain_dict.pt", "plain_dict.safetensors");
  expect_same_as_twin("plain_dict_rezipped.pt", "plain_dict.safetensors");  // unaligned records
  expect_same_as_twin("one_entry.pt", "one_entry.safetensors");
  expect_same_as_twin("views.pt", "views.safetensors");
  expect_same_as_twin("cuda_tag.pt", "cuda_tag.safetensors");
  expect_same_as_twin("protocol4.pt", "protocol4.safetensors");
  expect_same_as_twin("wrapped.pt", "wrapped.safetensors");
}

TEST(TorchCheckpoint, DecodesKnownValues) {
  // Independent of the twins: values the fixture script writes deterministically.
  const TensorSet one = read_torch_checkpoint(fixture("one_entry.pt"));
  const TensorView& only = one.tensors.at("only");
  ASSERT_EQ(only.dtype, DType::F32);
  ASSERT_EQ(only.shape, (std::vector<int64_t>{2, 3}));
  const float* f = reinterpret_cast<const float*>(only.data);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(f[i], static_cast<float>(i));

  const TensorSet tied = read_torch_checkpoint(fixture("tied.pt"));
  const TensorView& pos = tied.tensors.at("positions");
  ASSERT_EQ(pos.dtype, DType::I64);
  const int64_t* p = reinterpret_cast<const int64_t*>(pos.data);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(p[i], int64_t{i} * 1000003 - 7);
  const TensorView& scale = tied.tensors.at("scale");  // linspace(-2, 2, 6) in bf16
  ASSERT_EQ(scale.dtype, DType::BF16);
  const uint16_t* s = reinterpret_cast<const uint16_t*>(scale.data);
  EXPECT_EQ(bf16_to_f32(s[0]), -2.0f);
  EXPECT_EQ(bf16_to_f32(s[5]), 2.0f);
  EXPECT_EQ(tied.tensors.at("proj.weight").dtype, DType::F16);

  const TensorSet plain = read_torch_checkpoint(fixture("plain_dict.pt"));
  EXPECT_EQ(plain.tensors.at("scalar").shape, std::vector<int64_t>{});
  EXPECT_EQ(reinterpret_cast<const float*>(plain.tensors.at("scalar").data)[0], 3.5f);
  EXPECT_EQ(plain.tensors.at("empty").shape, (std::vector<int64_t>{0, 3}));
  EXPECT_EQ(plain.tensors.at("flags").dtype, DType::BOOL);
  EXPECT_EQ(plain.tensors.at("param").dtype, DType::F32);  // via _rebuild_parameter
}

TEST(TorchCheckpoint, TiedWeightsShareOneBufferInTheMapping) {
  const TensorSet set = read_torch_checkpoint(fixture("tied.pt"));
  const TensorView& emb = set.tensors.at("emb.weight");
  const TensorView& head = set.tensors.at("head.weight");
  EXPECT_EQ(emb.data, head.data);
  EXPECT_EQ(emb.owner, head.owner);
  EXPECT_EQ(emb.shape, (std::vector<int64_t>{8, 4}));
}

TEST(TorchCheckpoint, ContiguousViewsPointIntoTheStorageOthersAreCopied) {
  const TensorSet set = read_torch_checkpoint(fixture("views.pt"));
  const TensorView& base = set.tensors.at("base");  // arange(24) as 4x6
  const TensorView& rows = set.tensors.at("rows");  // base[1:3]: storage_offset 6
  const TensorView& flat = set.tensors.at("flat_slice");  // offset 5
  EXPECT_EQ(rows.data, base.data + 6 * sizeof(float));
  EXPECT_EQ(flat.data, base.data + 5 * sizeof(float));
  EXPECT_EQ(rows.owner, base.owner);
  const TensorView& t = set.tensors.at("transposed");
  EXPECT_NE(t.owner, base.owner);  // an owned contiguous copy
  ASSERT_EQ(t.shape, (std::vector<int64_t>{6, 4}));
  const float* tv = reinterpret_cast<const float*>(t.data);
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 4; ++j) EXPECT_EQ(tv[i * 4 + j], static_cast<float>(j * 6 + i));
  const float* column = reinterpret_cast<const float*>(set.tensors.at("column").data);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(column[i], static_cast<float>(i * 6 + 2));
}

TEST(TorchCheckpoint, ViewsOutliveTheTensorSet) {
  TensorView kept;
  {
    const TensorSet set = read_torch_checkpoint(fixture("one_entry.pt"));
    kept = set.tensors.at("only");
  }
  EXPECT_EQ(reinterpret_cast<const float*>(kept.data)[5], 5.0f);
}

TEST(TorchCheckpoint, RefusesMaliciousPickleWithoutRunningIt) {
  const char* marker = "/tmp/slmkit_pwned";
  std::remove(marker);
  expect_error([&] { read_torch_checkpoint(fixture("malicious_posix.pt")); },
               {"malicious_posix.pt: refusing to load: evil/data.pkl references non-allowlisted "
                "global 'posix.system' at offset 2",
                "Convert it with a trusted tool or obtain a safetensors file."});
  expect_error([&] { read_torch_checkpoint(fixture("malicious_os.pt")); },
               {"non-allowlisted global 'os.system' at offset 2"});
  struct stat st {};
  EXPECT_NE(::stat(marker, &st), 0) << marker << " exists: the pickle was executed";
}

TEST(TorchCheckpoint, BrokenFilesGiveSpecificErrors) {
  expect_error([] { read_torch_checkpoint(fixture("truncated.pt")); },
               {"truncated.pt: truncated or corrupt zip"});
  expect_error([] { read_torch_checkpoint(fixture("compressed.pt")); },
               {"is compressed (method 8, deflate)"});
  expect_error([] { read_torch_checkpoint(fixture("bad_byteorder.pt")); },
               {"'one_entry/byteorder' says 'big', expected 'little'"});
  expect_error([] { read_torch_checkpoint(fixture("storage_size_mismatch.pt")); },
               {"storage '0' (record 'one_entry/data/0') should hold 5 F32 elements = 20 bytes, "
                "but the record has 24 bytes"});
  expect_error([] { read_torch_checkpoint(fixture("oob_view.pt")); },
               {"tensor 'only' view exceeds its storage", "reach element 8 but the storage has 6"});
  expect_error([] { read_torch_checkpoint(fixture("no_such_file.pt")); }, {"no_such_file.pt"});
  expect_error([] { read_torch_checkpoint(write_temp_file("legacy.pt", "\x80\x02\x8a\x0a"s)); },
               {"legacy (pre-1.6, non-zip) torch serialization is not supported"});
}

// A hand-built archive: data.pkl = {'w': f32[2] from storage '0'} unless replaced.
std::string archive(const std::string& pkl, std::vector<test::ZipRecord> extra = {},
                    const std::string& storage = std::string(8, '\0')) {
  std::vector<test::ZipRecord> records = {{"a/data.pkl", pkl}, {"a/version", "3\n"},
                                          {"a/data/0", storage}};
  records.insert(records.end(), extra.begin(), extra.end());
  return build_zip(records).bytes;
}

std::string dict_pkl(const std::string& entries) { return pk_proto2() + "}(" + entries + "u."; }

std::string w_entry(const std::string& key = "w") {
  return pk_str(key) + pk_tensor(pk_storage("FloatStorage", "0", 2), 0, {2}, {1});
}

void expect_archive_error(const std::string& bytes, const std::vector<std::string>& fragments) {
  expect_error([&] { read_torch_checkpoint(write_temp_file("h.pt", bytes)); }, fragments);
}

TEST(TorchCheckpoint, HandBuiltArchiveLoads) {
  const std::string path = write_temp_file("h.pt", archive(dict_pkl(w_entry())));
  const TensorSet set = read_torch_checkpoint(path);
  ASSERT_EQ(set.tensors.size(), 1u);
  EXPECT_EQ(set.tensors.at("w").shape, std::vector<int64_t>{2});
}

TEST(TorchCheckpoint, RejectsMalformedArchiveLayouts) {
  const std::string pkl = dict_pkl(w_entry());
  expect_archive_error(archive(pkl, {{"b/extra", "x"}}),
                       {"entries under more than one top-level directory ('a/' and 'b/')"});
  expect_archive_error(archive(pkl, {{"a/../evil", "x"}}), {"unsafe entry name 'a/../evil'"});
  expect_archive_error(build_zip({{"a/version", "3\n"}}).bytes, {"no 'a/data.pkl' record"});
  expect_archive_error(build_zip({{"a/data.pkl", pkl}, {"a/data/0", std::string(8, '\0')}}).bytes,
                       {"no 'a/version' record"});
  expect_archive_error(archive(pkl, {{"a/byteorder", "big"}}), {"says 'big'"});
  expect_archive_error(archive(dict_pkl(pk_str("w") +
                                        pk_tensor(pk_storage("FloatStorage", "9", 2), 0, {2}, {1}))),
                       {"missing storage record 'a/data/9'"});
}

TEST(TorchCheckpoint, RejectsPicklesThatAreNotStateDicts) {
  expect_archive_error(archive(pk_proto2() + "](N" "e."), {"data.pkl holds a value of type list, expected a state dict"});
  expect_archive_error(archive(dict_pkl(w_entry() + pk_str("epoch") + "K\x03")),
                       {"entry 'epoch' of the checkpoint has type int, not a tensor"});
  expect_archive_error(archive(dict_pkl(w_entry() + w_entry())), {"state dict key 'w' appears twice"});
  // Same storage key seen with two dtypes.
  expect_archive_error(archive(dict_pkl(w_entry() + pk_str("v") +
                                        pk_tensor(pk_storage("IntStorage", "0", 2), 0, {2}, {1}))),
                       {"storage '0' is referenced as I32 x 2 and as F32 x 2"});
  expect_archive_error(archive(dict_pkl(pk_str("w") + pk_global("os", "system"))),
                       {"references non-allowlisted global 'os.system' at offset 10"});
}

TEST(TorchCheckpoint, ChecksViewBoundsAndStorageIntegrity) {
  // storage_offset 1 + extent 1 reaches element 2 of a 2-element storage.
  expect_archive_error(archive(dict_pkl(pk_str("w") +
                                        pk_tensor(pk_storage("FloatStorage", "0", 2), 1, {2}, {1}))),
                       {"tensor 'w' view exceeds its storage", "reach element 2"});
  // Stride 0 (an expanded view) inside bounds is materialised.
  const std::string expanded = archive(
      dict_pkl(pk_str("w") + pk_tensor(pk_storage("FloatStorage", "0", 2), 1, {3}, {0})),
      {}, "\0\0\0\0\0\0\x80\x3f"s);
  const TensorSet set = read_torch_checkpoint(write_temp_file("e.pt", expanded));
  const float* w = reinterpret_cast<const float*>(set.tensors.at("w").data);
  EXPECT_EQ(w[0], 1.0f);
  EXPECT_EQ(w[2], 1.0f);
  // A storage byte flipped after writing: CRC-32 catches it.
  std::string bytes = archive(dict_pkl(w_entry()));
  const size_t data_at = bytes.find("a/data/0") + 8;
  bytes[data_at] = '\x01';
  expect_archive_error(bytes, {"entry 'a/data/0' CRC-32 mismatch"});
}

}  // namespace
}  // namespace slmkit
