// A whole file mapped read-only into memory (copy-on-write private mapping, so a
// tensor built on it may be modified in place without touching the file).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/limits.h"

namespace slmkit {

class MappedFile {
 public:
  // Throws Error naming the path if the file cannot be opened or mapped.
  static std::shared_ptr<const MappedFile> open(const std::string& path);
  // The same interface over bytes in memory (fuzz targets, tests): `name` stands
  // for the path in error messages.
  static std::shared_ptr<const MappedFile> from_bytes(const std::string& name, std::string bytes);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile() = default;
  std::string path_;
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool mapped_ = false;  // data_ is an mmap (else it points into owned_)
  std::string owned_;
};

// Reads a whole (small) file into a string; throws Error naming the path, and
// refuses a file larger than `max_bytes` before reading it (a config.json or a
// tokenizer file that is gigabytes long is not one).
std::string read_text_file(const std::string& path, uint64_t max_bytes = Limits{}.text_file_bytes);

}  // namespace slmkit
