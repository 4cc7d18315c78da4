// A minimal, strict, read-only zip reader over a memory-mapped file, free of
// LibTorch. It exists to open PyTorch `torch.save` archives without trusting
// them: every offset and size is bounds-checked with overflow-safe arithmetic,
// the central directory must agree with each local header, entries may not
// overlap or repeat, and only "stored" (uncompressed) entries are accepted —
// torch.save never compresses, so a compressed entry is refused rather than
// inflated (no zip-bomb surface). Entry data is returned as a span into the
// mapping; nothing is copied or extracted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/limits.h"
#include "io/mapped_file.h"

namespace slmkit {

// Bytes inside a MappedFile; valid while the MappedFile lives.
struct ByteSpan {
  const uint8_t* data = nullptr;
  size_t size = 0;
  std::string_view as_string_view() const {
    return {reinterpret_cast<const char*>(data), size};
  }
};

struct ZipEntry {
  std::string name;           // exactly as stored in the central directory
  uint64_t header_offset = 0; // of the local file header, from the file start
  uint64_t data_offset = 0;   // first byte of the entry's data, from the file start
  uint64_t size_bytes = 0;    // stored == uncompressed size
  uint32_t crc32 = 0;         // as recorded in the central directory
};

class ZipArchive {
 public:
  // Parses the end-of-central-directory record (zip64 record and locator when
  // present), every central directory entry and its local header. Throws Error
  // naming the file, the entry and the byte offset on anything malformed,
  // truncated, encrypted, compressed, duplicated or overlapping.
  explicit ZipArchive(std::shared_ptr<const MappedFile> file, const Limits& limits = Limits{});

  const std::vector<ZipEntry>& entries() const { return entries_; }
  const ZipEntry* find(std::string_view name) const;  // nullptr when absent
  ByteSpan data(const ZipEntry& entry) const;         // no copy
  // Throws Error when the entry's bytes do not match its recorded CRC-32.
  void verify_crc32(const ZipEntry& entry) const;

  const std::shared_ptr<const MappedFile>& file() const { return file_; }
  const std::string& path() const { return file_->path(); }

 private:
  std::shared_ptr<const MappedFile> file_;
  std::vector<ZipEntry> entries_;  // central directory order
  std::unordered_map<std::string, size_t> index_by_name_;
};

// Standard zip/zlib CRC-32 (polynomial 0xEDB88320), continuing from `crc`.
uint32_t crc32_update(uint32_t crc, const uint8_t* data, size_t size);

}  // namespace slmkit
