// Crash-safe output: bytes go to a temporary file in the target's directory,
// are fsynced, and only then renamed over the target. A failure at any point
// (disk full, exception, kill) leaves the previous target untouched and removes
// the temporary file where the process is still alive to do so.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

namespace slmkit {

class AtomicFile {
 public:
  explicit AtomicFile(const std::string& target_path);  // throws Error
  ~AtomicFile();                                        // discards unless committed
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t n);  // throws Error (e.g. disk full)
  void write(const std::string& s) { write(s.data(), s.size()); }
  // Flushes, fsyncs, renames into place, fsyncs the directory.
  void commit();
  const std::string& target() const { return target_; }

 private:
  std::string target_;
  std::string temp_;
  std::FILE* file_ = nullptr;
  bool committed_ = false;
  uint64_t bytes_written_ = 0;  // for the message when the disk fills up
};

// Writes a whole string atomically.
void write_file_atomic(const std::string& path, const std::string& contents);

}  // namespace slmkit
