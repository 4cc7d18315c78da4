#include "io/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace slmkit {

std::shared_ptr<const MappedFile> MappedFile::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  SLMKIT_CHECK(fd >= 0, path, ": cannot open: ", std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(cat(path, ": not a regular file"));
  }
  std::shared_ptr<MappedFile> f(new MappedFile());
  f->path_ = path;
  f->size_ = static_cast<size_t>(st.st_size);
  if (f->size_ > 0) {
    void* p = ::mmap(nullptr, f->size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      throw Error(cat(path, ": cannot map ", f->size_, " bytes: ", std::strerror(err)));
    }
    f->data_ = static_cast<uint8_t*>(p);
    f->mapped_ = true;
  }
  ::close(fd);
  return f;
}

std::shared_ptr<const MappedFile> MappedFile::from_bytes(const std::string& name, std::string bytes) {
  std::shared_ptr<MappedFile> f(new MappedFile());
  f->path_ = name;
  f->owned_ = std::move(bytes);
  f->size_ = f->owned_.size();
  f->data_ = reinterpret_cast<uint8_t*>(f->owned_.data());
  return f;
}

MappedFile::~MappedFile() {
  if (mapped_) ::munmap(data_, size_);
}

std::string read_text_file(const std::string& path, uint64_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  SLMKIT_CHECK(in.good(), path, ": cannot open: ", std::strerror(errno));
  struct stat st {};
  // Pipes and devices have no size to check up front; regular files do.
  const bool regular = ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
  SLMKIT_CHECK(!regular || static_cast<uint64_t>(st.st_size) <= max_bytes, path, ": file is ",
               static_cast<uint64_t>(st.st_size), " bytes, more than the limit of ", max_bytes,
               " for this kind of file (Limits); is it the right file?");
  std::ostringstream ss;
  ss << in.rdbuf();
  SLMKIT_CHECK(!in.bad(), path, ": read error");
  return ss.str();
}

}  // namespace slmkit
