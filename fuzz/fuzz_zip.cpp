// Raw bytes as a zip archive: end records (classic and zip64), central directory,
// local headers, overlap checks; then every entry's bytes are read and its CRC checked.
#include "fuzz_util.h"
#include "io/mapped_file.h"
#include "io/zip_archive.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace slmkit;
  static const Limits limits = fuzz::lowered_limits();
  return fuzz::run_expecting_only_errors([&] {
    const ZipArchive zip(MappedFile::from_bytes("fuzz.zip", fuzz::bytes_of(data, size)), limits);
    for (const ZipEntry& e : zip.entries()) {
      SLMKIT_ASSERT(zip.find(e.name) == &e);
      const ByteSpan span = zip.data(e);
      fuzz::touch(span.data, span.size);
      zip.verify_crc32(e);
    }
  });
}
