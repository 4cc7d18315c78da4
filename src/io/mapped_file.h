// A whole file mapped read-only into memory (copy-on-write private mapping, so a
// tensor built on it may be modified in place without touching the file).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace slmkit {

class MappedFile {
 public:
  // Throws Error naming the path if the file cannot be opened or mapped.
  static std::shared_ptr<const MappedFile> open(const std::string& path);
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
};

// Reads a whole (small) file into a string; throws Error naming the path.
std::string read_text_file(const std::string& path);

}  // namespace slmkit
