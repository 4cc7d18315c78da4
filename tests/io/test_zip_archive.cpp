// The strict stored-zip reader: torch.save's layout (zip64 end record, data
// descriptors, 64-byte aligned records), Python zipfile's layout, and one
// corruption at a time of a hand-built archive.
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "io/mapped_file.h"
#include "io/zip_archive.h"
#include "torch_test_builders.h"

namespace slmkit {
namespace {

using test::build_zip;
using test::expect_error;
using test::poke;
using test::write_temp_file;
using test::ZipImage;
using test::ZipOptions;

const std::vector<test::ZipRecord> kRecords = {
    {"arc/data.pkl", "pickle-bytes"}, {"arc/data/0", std::string(16, '\x01')}, {"arc/version", "3\n"}};

ZipArchive open_image(const std::string& bytes) {
  return ZipArchive(MappedFile::open(write_temp_file("a.zip", bytes)));
}

void expect_corrupt(const std::string& bytes, const std::vector<std::string>& fragments) {
  expect_error([&] { open_image(bytes); }, fragments);
}

TEST(ZipArchive, Crc32MatchesTheStandardCheckValue) {
  const std::string check = "123456789";
  EXPECT_EQ(crc32_update(0, reinterpret_cast<const uint8_t*>(check.data()), check.size()), 0xCBF43926u);
  // Incremental use over an odd split gives the same result (exercises both loops).
  const uint32_t head = crc32_update(0, reinterpret_cast<const uint8_t*>(check.data()), 3);
  EXPECT_EQ(crc32_update(head, reinterpret_cast<const uint8_t*>(check.data()) + 3, 6), 0xCBF43926u);
}

TEST(ZipArchive, ReadsStoredEntriesWithoutCopying) {
  for (const ZipOptions& opt : {ZipOptions{}, ZipOptions{true, false}, ZipOptions{true, true}}) {
    const ZipArchive zip = open_image(build_zip(kRecords, opt).bytes);
    ASSERT_EQ(zip.entries().size(), 3u);
    EXPECT_EQ(zip.entries()[0].name, "arc/data.pkl");
    const ZipEntry* data = zip.find("arc/data/0");
    ASSERT_NE(data, nullptr);
    const ByteSpan span = zip.data(*data);
    EXPECT_EQ(span.size, 16u);
    EXPECT_GE(span.data, zip.file()->data());
    EXPECT_LE(span.data + span.size, zip.file()->data() + zip.file()->size());
    EXPECT_EQ(zip.data(*zip.find("arc/data.pkl")).as_string_view(), "pickle-bytes");
    EXPECT_NO_THROW(zip.verify_crc32(*data));
    EXPECT_EQ(zip.find("arc/missing"), nullptr);
  }
}

TEST(ZipArchive, ReadsTorchSaveLayout) {
  // zip64 end record + locator, data descriptors (flag bit 3), 64-byte alignment.
  const ZipArchive zip(MappedFile::open(test::fixture_path("torch/tied.pt")));
  ASSERT_NE(zip.find("tied/data.pkl"), nullptr);
  ASSERT_NE(zip.find("tied/version"), nullptr);
  for (const ZipEntry& e : zip.entries()) {
    EXPECT_EQ(e.data_offset % 64, 0u) << e.name;
    EXPECT_NO_THROW(zip.verify_crc32(e)) << e.name;
  }
  EXPECT_EQ(zip.data(*zip.find("tied/version")).as_string_view(), "3\n");
}

TEST(ZipArchive, RejectsWhatIsNotAZip) {
  expect_corrupt("", {"not a zip archive: file has only 0 bytes"});
  expect_corrupt(std::string(100, 'x'), {"not a zip archive: no end-of-central-directory record"});
}

TEST(ZipArchive, RejectsTruncationAndTrailingBytes) {
  const std::string whole = build_zip(kRecords).bytes;
  expect_corrupt(whole.substr(0, whole.size() - 5), {"truncated or corrupt zip", "incomplete download"});
  expect_corrupt(whole + "tail", {"truncated or corrupt zip", "appended"});
  // The torch fixture cut in half.
  expect_error([] { ZipArchive(MappedFile::open(test::fixture_path("torch/truncated.pt"))); },
               {"truncated.pt: truncated or corrupt zip"});
}

TEST(ZipArchive, RejectsCompressedAndEncryptedEntries) {
  ZipOptions deflate;
  deflate.method = 8;
  expect_corrupt(build_zip(kRecords, deflate).bytes,
                 {"entry 'arc/data.pkl' is compressed (method 8, deflate)", "only stored"});
  ZipOptions encrypted;
  encrypted.flags = 1;
  expect_corrupt(build_zip(kRecords, encrypted).bytes, {"entry 'arc/data.pkl' is encrypted"});
}

TEST(ZipArchive, RejectsBadDirectoryBounds) {
  ZipImage img = build_zip(kRecords);
  std::string b = img.bytes;
  poke(b, img.eocd_offset + 16, img.cd_offset + 1000, 4);  // directory offset past the end
  expect_corrupt(b, {"corrupt zip: central directory at offset", "expected it to end at the end record"});
  b = img.bytes;
  poke(b, img.eocd_offset + 10, 4, 2);  // one entry more than present
  poke(b, img.eocd_offset + 8, 4, 2);
  expect_corrupt(b, {"central directory entry 3 at offset", "runs past the end of the directory"});
  b = img.bytes;
  poke(b, img.eocd_offset + 10, 0xFFFF, 2);  // zip64 sentinel without a zip64 locator
  expect_corrupt(b, {"zip64 sentinel values but no zip64 locator"});
  b = img.bytes;
  poke(b, img.central_offsets[1], 0x12345678, 4);
  expect_corrupt(b, {"expected central directory entry 1 at offset"});
}

TEST(ZipArchive, RejectsInconsistentZip64Records) {
  ZipOptions opt;
  opt.zip64_end = true;
  ZipImage img = build_zip(kRecords, opt);
  std::string b = img.bytes;
  poke(b, img.eocd_offset + 10, 2, 2);  // classic count disagrees with zip64 count
  poke(b, img.eocd_offset + 8, 2, 2);
  expect_corrupt(b, {"entry count is 2 in the end-of-central-directory record but 3 in the zip64 record"});
  b = img.bytes;
  poke(b, img.eocd_offset - 20 + 8, 7, 8);  // locator points at garbage
  expect_corrupt(b, {"no zip64 end-of-central-directory signature at offset 7"});
  opt.zip64_extra = true;
  img = build_zip(kRecords, opt);
  b = img.bytes;
  poke(b, img.central_offsets[0] + 30, 20, 2);  // extra shrinks: offset field missing
  poke(b, img.central_offsets[0] + 46 + 12 + 2, 16, 2);
  expect_corrupt(b, {"zip64 extra field lacks the local header offset"});
  b = img.bytes;
  poke(b, img.central_offsets[0] + 46 + 12 + 2, 28, 2);  // field runs past the extra data
  expect_corrupt(b, {"extra field at offset", "claims 28 bytes, beyond the end of its extra data"});
}

TEST(ZipArchive, RejectsLocalHeadersThatDisagree) {
  ZipImage img = build_zip(kRecords);
  std::string b = img.bytes;
  b[img.local_offsets[1] + 30 + 4] = 'X';  // "arc/data/0" -> "arc/Xata/0" in the local header
  expect_corrupt(b, {"entry 'arc/data/0' local header at offset", "names 'arc/Xata/0'"});
  b = img.bytes;
  poke(b, img.local_offsets[2] + 22, 3, 4);  // local uncompressed size
  expect_corrupt(b, {"entry 'arc/version' local header", "disagrees with the central directory"});
  b = img.bytes;
  poke(b, img.local_offsets[0] + 8, 8, 2);  // local method deflate, central stored
  expect_corrupt(b, {"local header at offset 0 has method 8"});
  b = img.bytes;
  poke(b, img.central_offsets[1] + 42, img.cd_offset + 5, 4);
  expect_corrupt(b, {"entry 'arc/data/0' local header offset", "is not before the central directory"});
}

TEST(ZipArchive, RejectsOverlapsDuplicatesAndOverruns) {
  ZipImage img = build_zip(kRecords);
  std::string b = img.bytes;
  // data.pkl claims 40 bytes: it now overlaps the next entry's local header.
  for (size_t field : {18, 22}) poke(b, img.local_offsets[0] + field, 40, 4);
  for (size_t field : {20, 24}) poke(b, img.central_offsets[0] + field, 40, 4);
  expect_corrupt(b, {"entries 'arc/data.pkl' and 'arc/data/0' overlap"});
  // The last entry's data runs into the central directory.
  b = img.bytes;
  for (size_t field : {18, 22}) poke(b, img.local_offsets[2] + field, 40, 4);
  for (size_t field : {20, 24}) poke(b, img.central_offsets[2] + field, 40, 4);
  expect_corrupt(b, {"entry 'arc/version' data", "runs into the central directory"});
  // Two entries with one name.
  expect_corrupt(build_zip({{"a/x", "1"}, {"a/x", "2"}}).bytes, {"entry name 'a/x' appears twice"});
}

TEST(ZipArchive, DetectsCrcMismatch) {
  ZipImage img = build_zip(kRecords);
  img.bytes[img.local_offsets[1] + 30 + 10] = '\x02';  // first data byte of arc/data/0
  const ZipArchive zip = open_image(img.bytes);
  expect_error([&] { zip.verify_crc32(*zip.find("arc/data/0")); },
               {"entry 'arc/data/0' CRC-32 mismatch", "damaged"});
  EXPECT_NO_THROW(zip.verify_crc32(*zip.find("arc/version")));
}

}  // namespace
}  // namespace slmkit
