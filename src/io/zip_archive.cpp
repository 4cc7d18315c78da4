#include "io/zip_archive.h"

#include <algorithm>
#include <array>
#include <cstring>

#include "core/error.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "crc32_update and the callers' views of stored data assume a little-endian host");

namespace slmkit {
namespace {

constexpr uint32_t kLocalHeaderSig = 0x04034b50;
constexpr uint32_t kCentralHeaderSig = 0x02014b50;
constexpr uint32_t kEndOfCentralDirSig = 0x06054b50;
constexpr uint32_t kZip64EndSig = 0x06064b50;
constexpr uint32_t kZip64LocatorSig = 0x07064b50;
constexpr size_t kEndOfCentralDirBytes = 22;
constexpr size_t kZip64LocatorBytes = 20;
constexpr size_t kZip64EndFixedBytes = 56;
constexpr size_t kCentralHeaderFixedBytes = 46;
constexpr size_t kLocalHeaderFixedBytes = 30;
constexpr size_t kMaxCommentBytes = 0xFFFF;
constexpr uint16_t kZip64ExtraId = 0x0001;
constexpr uint16_t kFlagEncrypted = 1u << 0;
constexpr uint16_t kFlagDataDescriptor = 1u << 3;
constexpr uint16_t kFlagStrongEncryption = 1u << 6;
constexpr uint16_t kFlagMaskedHeaders = 1u << 13;
constexpr uint32_t kSentinel32 = 0xFFFFFFFFu;
constexpr uint16_t kSentinel16 = 0xFFFFu;

const char* method_name(uint16_t method) {
  switch (method) {
    case 8: return "deflate";
    case 9: return "deflate64";
    case 12: return "bzip2";
    case 14: return "lzma";
    case 93: return "zstd";
    case 95: return "xz";
    default: return "unknown";
  }
}

// Little-endian field reads, each bounds-checked against the whole file.
class Reader {
 public:
  explicit Reader(const MappedFile& file) : file_(file) {}

  void need(uint64_t offset, uint64_t count, const char* what) const {
    uint64_t end = 0;
    SLMKIT_CHECK(!__builtin_add_overflow(offset, count, &end) && end <= file_.size(),
                 file_.path(), ": truncated or corrupt zip: ", what, " at offset ", offset,
                 " needs ", count, " bytes but the file has ", file_.size(),
                 " bytes (incomplete download?)");
  }
  uint16_t u16(uint64_t offset, const char* what) const {
    need(offset, 2, what);
    const uint8_t* p = file_.data() + offset;
    return static_cast<uint16_t>(p[0] | (p[1] << 8));
  }
  uint32_t u32(uint64_t offset, const char* what) const {
    need(offset, 4, what);
    const uint8_t* p = file_.data() + offset;
    return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
           (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
  }
  uint64_t u64(uint64_t offset, const char* what) const {
    return static_cast<uint64_t>(u32(offset, what)) |
           (static_cast<uint64_t>(u32(offset + 4, what)) << 32);
  }
  const MappedFile& file() const { return file_; }

 private:
  const MappedFile& file_;
};

uint64_t checked_add(uint64_t a, uint64_t b, const std::string& path, const char* what) {
  uint64_t sum = 0;
  SLMKIT_CHECK(!__builtin_add_overflow(a, b, &sum), path, ": corrupt zip: ", what,
               " overflows (", a, " + ", b, ")");
  return sum;
}

struct EndOfCentralDir {
  uint64_t entry_count = 0;
  uint64_t cd_offset = 0;
  uint64_t cd_size = 0;
  uint64_t cd_must_end_at = 0;  // the zip64 record or the classic record follows the directory
};

// Finds the classic EOCD record: the last signature whose comment runs exactly to
// the end of the file (so no bytes trail the archive).
uint64_t find_end_of_central_dir(const Reader& r) {
  const MappedFile& f = r.file();
  const std::string& path = f.path();
  const bool looks_like_zip = f.size() >= 4 && r.u32(0, "signature") == kLocalHeaderSig;
  SLMKIT_CHECK(f.size() >= kEndOfCentralDirBytes, path, ": not a zip archive: file has only ",
               f.size(), " bytes, less than the 22-byte end-of-central-directory record");
  const uint64_t last = f.size() - kEndOfCentralDirBytes;
  const uint64_t first = last > kMaxCommentBytes ? last - kMaxCommentBytes : 0;
  for (uint64_t pos = last + 1; pos-- > first;) {
    if (r.u32(pos, "end of central directory") != kEndOfCentralDirSig) continue;
    const uint16_t comment_bytes = r.u16(pos + 20, "zip comment length");
    if (pos + kEndOfCentralDirBytes + comment_bytes == f.size()) return pos;
  }
  if (looks_like_zip) {
    throw Error(cat(path, ": truncated or corrupt zip: no end-of-central-directory record ends the "
                          "file (it starts like a zip: incomplete download, or bytes appended "
                          "after the archive?)"));
  }
  throw Error(cat(path, ": not a zip archive: no end-of-central-directory record (expected "
                        "signature PK\\x05\\x06 near the end of the file)"));
}

EndOfCentralDir read_end_of_central_dir(const Reader& r) {
  const std::string& path = r.file().path();
  const uint64_t eocd = find_end_of_central_dir(r);
  const uint16_t disk = r.u16(eocd + 4, "EOCD disk number");
  const uint16_t cd_disk = r.u16(eocd + 6, "EOCD directory disk");
  const uint16_t entries_on_disk = r.u16(eocd + 8, "EOCD entries on disk");
  const uint16_t entries_total = r.u16(eocd + 10, "EOCD entry count");
  const uint32_t cd_size32 = r.u32(eocd + 12, "EOCD directory size");
  const uint32_t cd_offset32 = r.u32(eocd + 16, "EOCD directory offset");

  EndOfCentralDir out;
  out.entry_count = entries_total;
  out.cd_size = cd_size32;
  out.cd_offset = cd_offset32;
  out.cd_must_end_at = eocd;

  // A zip64 locator sits right before the classic record. torch.save always
  // writes one, even for small files; other writers only when a field overflows.
  const bool has_locator = eocd >= kZip64LocatorBytes &&
                           r.u32(eocd - kZip64LocatorBytes, "zip64 locator") == kZip64LocatorSig;
  const bool needs_zip64 = disk == kSentinel16 || cd_disk == kSentinel16 ||
                           entries_on_disk == kSentinel16 || entries_total == kSentinel16 ||
                           cd_size32 == kSentinel32 || cd_offset32 == kSentinel32;
  SLMKIT_CHECK(has_locator || !needs_zip64, path, ": corrupt zip: end-of-central-directory at offset ",
               eocd, " has zip64 sentinel values but no zip64 locator precedes it");
  if (!has_locator) {
    SLMKIT_CHECK(disk == 0 && cd_disk == 0 && entries_on_disk == entries_total, path,
                 ": multi-disk (spanned) zip archives are not supported (disk ", disk,
                 ", directory disk ", cd_disk, ")");
    return out;
  }

  const uint64_t locator = eocd - kZip64LocatorBytes;
  const uint32_t z64_disk = r.u32(locator + 4, "zip64 locator disk");
  const uint64_t z64_offset = r.u64(locator + 8, "zip64 end record offset");
  const uint32_t total_disks = r.u32(locator + 16, "zip64 disk count");
  SLMKIT_CHECK(z64_disk == 0 && total_disks <= 1, path,
               ": multi-disk (spanned) zip archives are not supported (zip64 locator says disk ",
               z64_disk, " of ", total_disks, ")");
  SLMKIT_CHECK(z64_offset <= locator && locator - z64_offset >= kZip64EndFixedBytes, path,
               ": corrupt zip: zip64 end record offset ", z64_offset,
               " does not leave room for the record before the locator at ", locator);
  SLMKIT_CHECK(r.u32(z64_offset, "zip64 end record") == kZip64EndSig, path,
               ": corrupt zip: no zip64 end-of-central-directory signature at offset ", z64_offset);
  const uint64_t record_bytes = r.u64(z64_offset + 4, "zip64 record size");
  SLMKIT_CHECK(record_bytes == locator - z64_offset - 12, path,
               ": corrupt zip: zip64 end record at offset ", z64_offset, " says ", record_bytes,
               " bytes follow its size field, but the locator is at ", locator);
  const uint32_t disk64 = r.u32(z64_offset + 16, "zip64 disk number");
  const uint32_t cd_disk64 = r.u32(z64_offset + 20, "zip64 directory disk");
  const uint64_t entries_on_disk64 = r.u64(z64_offset + 24, "zip64 entries on disk");
  const uint64_t entries_total64 = r.u64(z64_offset + 32, "zip64 entry count");
  const uint64_t cd_size64 = r.u64(z64_offset + 40, "zip64 directory size");
  const uint64_t cd_offset64 = r.u64(z64_offset + 48, "zip64 directory offset");
  SLMKIT_CHECK(disk64 == 0 && cd_disk64 == 0 && entries_on_disk64 == entries_total64, path,
               ": multi-disk (spanned) zip archives are not supported");
  // Where the classic record carries a real value, it must agree with zip64.
  auto agree = [&](uint64_t classic, uint64_t sentinel, uint64_t z64, const char* field) {
    SLMKIT_CHECK(classic == sentinel || classic == z64, path, ": corrupt zip: ", field,
                 " is ", classic, " in the end-of-central-directory record but ", z64,
                 " in the zip64 record");
  };
  agree(entries_total, kSentinel16, entries_total64, "entry count");
  agree(cd_size32, kSentinel32, cd_size64, "central directory size");
  agree(cd_offset32, kSentinel32, cd_offset64, "central directory offset");
  out.entry_count = entries_total64;
  out.cd_size = cd_size64;
  out.cd_offset = cd_offset64;
  out.cd_must_end_at = z64_offset;
  return out;
}

// Fields of a central directory entry that may be widened by a zip64 extra field.
struct WideFields {
  uint64_t uncompressed = 0;
  uint64_t compressed = 0;
  uint64_t header_offset = 0;
};

void apply_zip64_extra(const Reader& r, uint64_t extra_begin, uint64_t extra_bytes,
                       uint32_t uncompressed32, uint32_t compressed32, uint32_t offset32,
                       WideFields& out, const std::string& entry_name) {
  const std::string& path = r.file().path();
  bool found = false;
  uint64_t pos = extra_begin;
  const uint64_t end = extra_begin + extra_bytes;
  while (pos < end) {
    SLMKIT_CHECK(end - pos >= 4, path, ": corrupt zip: entry '", entry_name,
                 "' has a truncated extra field at offset ", pos);
    const uint16_t id = r.u16(pos, "extra field id");
    const uint16_t field_bytes = r.u16(pos + 2, "extra field size");
    SLMKIT_CHECK(end - pos - 4 >= field_bytes, path, ": corrupt zip: entry '", entry_name,
                 "' extra field at offset ", pos, " claims ", field_bytes,
                 " bytes, beyond the end of its extra data");
    if (id == kZip64ExtraId) {
      SLMKIT_CHECK(!found, path, ": corrupt zip: entry '", entry_name, "' has two zip64 extra fields");
      found = true;
      uint64_t cursor = pos + 4;
      const uint64_t field_end = cursor + field_bytes;
      auto take = [&](uint64_t& dest, const char* what) {
        SLMKIT_CHECK(field_end - cursor >= 8, path, ": corrupt zip: entry '", entry_name,
                     "' zip64 extra field lacks the ", what);
        dest = r.u64(cursor, what);
        cursor += 8;
      };
      if (uncompressed32 == kSentinel32) take(out.uncompressed, "uncompressed size");
      if (compressed32 == kSentinel32) take(out.compressed, "compressed size");
      if (offset32 == kSentinel32) take(out.header_offset, "local header offset");
    }
    pos += 4 + field_bytes;
  }
  const bool needs = uncompressed32 == kSentinel32 || compressed32 == kSentinel32 ||
                     offset32 == kSentinel32;
  SLMKIT_CHECK(found || !needs, path, ": corrupt zip: entry '", entry_name,
               "' has 0xFFFFFFFF size/offset fields but no zip64 extra field");
}

}  // namespace

ZipArchive::ZipArchive(std::shared_ptr<const MappedFile> file, const Limits& limits)
    : file_(std::move(file)) {
  SLMKIT_ASSERT(file_ != nullptr);
  const Reader r(*file_);
  const std::string& path = file_->path();
  const EndOfCentralDir eocd = read_end_of_central_dir(r);

  SLMKIT_CHECK(eocd.entry_count <= limits.zip_entries, path, ": zip archive lists ",
               eocd.entry_count, " entries, more than the limit of ", limits.zip_entries,
               " (Limits::zip_entries)");
  const uint64_t cd_end = checked_add(eocd.cd_offset, eocd.cd_size, path, "central directory end");
  // The directory must end exactly where the end record begins: no gap in which
  // a second archive or payload could hide (polyglot guard).
  SLMKIT_CHECK(cd_end == eocd.cd_must_end_at, path, ": corrupt zip: central directory at offset ",
               eocd.cd_offset, " with ", eocd.cd_size, " bytes ends at ", cd_end,
               ", expected it to end at the end record at offset ", eocd.cd_must_end_at);

  // Reserve only what the directory's bytes can hold (each entry needs its fixed
  // record): a lying count must not make us allocate; the loop below names the
  // first entry that is missing.
  entries_.reserve(static_cast<size_t>(
      std::min<uint64_t>(eocd.entry_count, eocd.cd_size / kCentralHeaderFixedBytes)));
  uint64_t pos = eocd.cd_offset;
  for (uint64_t i = 0; i < eocd.entry_count; ++i) {
    SLMKIT_CHECK(cd_end - pos >= kCentralHeaderFixedBytes, path,
                 ": corrupt zip: central directory entry ", i, " at offset ", pos,
                 " runs past the end of the directory (", cd_end, ")");
    SLMKIT_CHECK(r.u32(pos, "central directory entry") == kCentralHeaderSig, path,
                 ": corrupt zip: expected central directory entry ", i, " at offset ", pos);
    const uint16_t flags = r.u16(pos + 8, "flags");
    const uint16_t method = r.u16(pos + 10, "method");
    const uint32_t crc = r.u32(pos + 16, "crc32");
    const uint32_t compressed32 = r.u32(pos + 20, "compressed size");
    const uint32_t uncompressed32 = r.u32(pos + 24, "uncompressed size");
    const uint16_t name_bytes = r.u16(pos + 28, "name length");
    const uint16_t extra_bytes = r.u16(pos + 30, "extra length");
    const uint16_t comment_bytes = r.u16(pos + 32, "comment length");
    const uint16_t disk_start = r.u16(pos + 34, "disk number");
    const uint32_t offset32 = r.u32(pos + 42, "local header offset");
    const uint64_t record_bytes =
        uint64_t{kCentralHeaderFixedBytes} + name_bytes + extra_bytes + comment_bytes;
    SLMKIT_CHECK(cd_end - pos >= record_bytes, path, ": corrupt zip: central directory entry ", i,
                 " at offset ", pos, " (", record_bytes, " bytes) runs past the directory end ",
                 cd_end);
    SLMKIT_CHECK(name_bytes <= limits.zip_name_bytes, path, ": corrupt zip: entry ", i,
                 " name has ", name_bytes, " bytes, more than the limit of ", limits.zip_name_bytes);
    ZipEntry entry;
    entry.name.assign(reinterpret_cast<const char*>(file_->data() + pos + kCentralHeaderFixedBytes),
                      name_bytes);
    entry.crc32 = crc;
    SLMKIT_CHECK((flags & (kFlagEncrypted | kFlagStrongEncryption | kFlagMaskedHeaders)) == 0, path,
                 ": entry '", entry.name, "' is encrypted (flags 0x", std::hex, flags, std::dec,
                 "); encrypted zip entries are not supported");
    SLMKIT_CHECK(method == 0, path, ": entry '", entry.name, "' is compressed (method ", method,
                 ", ", method_name(method),
                 "); only stored (uncompressed) entries are supported, as written by torch.save. "
                 "Re-save the checkpoint with torch.save or convert it to safetensors.");
    SLMKIT_CHECK(disk_start == 0, path, ": entry '", entry.name, "' starts on disk ", disk_start,
                 "; multi-disk zip archives are not supported");

    WideFields wide{uncompressed32, compressed32, offset32};
    apply_zip64_extra(r, pos + kCentralHeaderFixedBytes + name_bytes, extra_bytes, uncompressed32,
                      compressed32, offset32, wide, entry.name);
    SLMKIT_CHECK(wide.compressed == wide.uncompressed, path, ": corrupt zip: stored entry '",
                 entry.name, "' has compressed size ", wide.compressed, " != uncompressed size ",
                 wide.uncompressed);
    entry.size_bytes = wide.uncompressed;
    entry.header_offset = wide.header_offset;

    // The local header must repeat what the central directory says.
    const uint64_t lh = entry.header_offset;
    SLMKIT_CHECK(lh < eocd.cd_offset && eocd.cd_offset - lh >= kLocalHeaderFixedBytes, path,
                 ": corrupt zip: entry '", entry.name, "' local header offset ", lh,
                 " is not before the central directory at ", eocd.cd_offset);
    SLMKIT_CHECK(r.u32(lh, "local header") == kLocalHeaderSig, path, ": corrupt zip: entry '",
                 entry.name, "' has no local header signature at offset ", lh);
    const uint16_t local_flags = r.u16(lh + 6, "local flags");
    const uint16_t local_method = r.u16(lh + 8, "local method");
    const uint32_t local_crc = r.u32(lh + 14, "local crc32");
    const uint32_t local_compressed = r.u32(lh + 18, "local compressed size");
    const uint32_t local_uncompressed = r.u32(lh + 22, "local uncompressed size");
    const uint16_t local_name_bytes = r.u16(lh + 26, "local name length");
    const uint16_t local_extra_bytes = r.u16(lh + 28, "local extra length");
    SLMKIT_CHECK(local_method == method && local_flags == flags, path, ": corrupt zip: entry '",
                 entry.name, "' local header at offset ", lh, " has method ", local_method,
                 " flags ", local_flags, ", central directory says method ", method, " flags ", flags);
    r.need(lh + kLocalHeaderFixedBytes, local_name_bytes, "local header name");
    const std::string_view local_name(
        reinterpret_cast<const char*>(file_->data() + lh + kLocalHeaderFixedBytes), local_name_bytes);
    SLMKIT_CHECK(local_name == entry.name, path, ": corrupt zip: entry '", entry.name,
                 "' local header at offset ", lh, " names '", local_name, "'");
    if ((flags & kFlagDataDescriptor) == 0) {
      // Sizes live in the local header (0xFFFFFFFF means "see zip64 extra",
      // which the central directory already resolved).
      const bool sizes_match =
          (local_compressed == kSentinel32 || local_compressed == wide.compressed) &&
          (local_uncompressed == kSentinel32 || local_uncompressed == wide.uncompressed);
      SLMKIT_CHECK(local_crc == crc && sizes_match, path, ": corrupt zip: entry '", entry.name,
                   "' local header (crc ", local_crc, ", size ", local_uncompressed,
                   ") disagrees with the central directory (crc ", crc, ", size ",
                   wide.uncompressed, ")");
    }
    entry.data_offset = lh + kLocalHeaderFixedBytes + local_name_bytes + local_extra_bytes;
    const uint64_t data_end = checked_add(entry.data_offset, entry.size_bytes, path, "entry end");
    SLMKIT_CHECK(data_end <= eocd.cd_offset, path, ": truncated or corrupt zip: entry '", entry.name,
                 "' data [", entry.data_offset, ", ", data_end,
                 ") runs into the central directory at offset ", eocd.cd_offset);

    SLMKIT_CHECK(index_by_name_.emplace(entry.name, entries_.size()).second, path,
                 ": corrupt zip: entry name '", entry.name, "' appears twice");
    entries_.push_back(std::move(entry));
    pos += record_bytes;
  }
  SLMKIT_CHECK(pos == cd_end, path, ": corrupt zip: central directory has ", cd_end - pos,
               " unexplained bytes after its ", eocd.entry_count, " entries");

  // Entries may not share bytes (non-recursive zip bombs overlap entries).
  std::vector<const ZipEntry*> by_offset;
  by_offset.reserve(entries_.size());
  for (const ZipEntry& e : entries_) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(), [](const ZipEntry* a, const ZipEntry* b) {
    return a->header_offset < b->header_offset;
  });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const ZipEntry& prev = *by_offset[i - 1];
    const ZipEntry& next = *by_offset[i];
    SLMKIT_CHECK(prev.data_offset + prev.size_bytes <= next.header_offset, path,
                 ": corrupt zip: entries '", prev.name, "' and '", next.name,
                 "' overlap (first ends at ", prev.data_offset + prev.size_bytes,
                 ", second starts at ", next.header_offset, ")");
  }
}

const ZipEntry* ZipArchive::find(std::string_view name) const {
  auto it = index_by_name_.find(std::string(name));
  return it == index_by_name_.end() ? nullptr : &entries_[it->second];
}

ByteSpan ZipArchive::data(const ZipEntry& entry) const {
  // Bounds were established by the constructor; re-assert against misuse.
  SLMKIT_ASSERT(entry.data_offset + entry.size_bytes <= file_->size());
  return ByteSpan{file_->data() + entry.data_offset, static_cast<size_t>(entry.size_bytes)};
}

void ZipArchive::verify_crc32(const ZipEntry& entry) const {
  const ByteSpan bytes = data(entry);
  const uint32_t actual = crc32_update(0, bytes.data, bytes.size);
  SLMKIT_CHECK(actual == entry.crc32, path(), ": corrupt zip: entry '", entry.name,
               "' CRC-32 mismatch (recorded 0x", std::hex, entry.crc32, ", computed 0x", actual,
               std::dec, "); the file is damaged or was modified");
}

namespace {

// Slicing-by-8 tables: table[k][b] is the CRC of byte b followed by k zero bytes.
using CrcTables = std::array<std::array<uint32_t, 256>, 8>;

CrcTables make_crc_tables() {
  CrcTables t{};
  for (uint32_t b = 0; b < 256; ++b) {
    uint32_t c = b;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[0][b] = c;
  }
  for (uint32_t b = 0; b < 256; ++b) {
    for (int k = 1; k < 8; ++k) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xFF];
  }
  return t;
}

}  // namespace

uint32_t crc32_update(uint32_t crc, const uint8_t* data, size_t size) {
  static const CrcTables t = make_crc_tables();
  uint32_t c = ~crc;
  while (size >= 8) {
    uint32_t lo = 0, hi = 0;
    std::memcpy(&lo, data, 4);
    std::memcpy(&hi, data + 4, 4);
    lo ^= c;
    c = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^
        t[3][hi & 0xFF] ^ t[2][(hi >> 8) & 0xFF] ^ t[1][(hi >> 16) & 0xFF] ^ t[0][hi >> 24];
    data += 8;
    size -= 8;
  }
  while (size-- > 0) c = t[0][(c ^ *data++) & 0xFF] ^ (c >> 8);
  return ~c;
}

}  // namespace slmkit
