#include "io/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "core/error.h"

namespace slmkit {
namespace {
std::string parent_dir(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}
}  // namespace

AtomicFile::AtomicFile(const std::string& target_path) : target_(target_path) {
  std::string pattern = target_ + ".tmp.XXXXXX";
  const int fd = ::mkstemp(pattern.data());
  SLMKIT_CHECK(fd >= 0, target_, ": cannot create a temporary file beside it: ",
               std::strerror(errno), ". Check that the directory exists and is writable.");
  temp_ = pattern;
  // mkstemp creates the file 0600; the output should get the permissions any
  // newly created file gets (0666 minus the umask), as if written directly.
  const mode_t umask_bits = ::umask(0);
  ::umask(umask_bits);
  ::fchmod(fd, 0666 & ~umask_bits);
  file_ = ::fdopen(fd, "wb");
  if (file_ == nullptr) {
    ::close(fd);
    ::unlink(temp_.c_str());
    throw Error(cat(target_, ": cannot open temporary file: ", std::strerror(errno)));
  }
}

AtomicFile::~AtomicFile() {
  if (file_ != nullptr) std::fclose(file_);
  if (!committed_ && !temp_.empty()) ::unlink(temp_.c_str());
}

void AtomicFile::write(const void* data, size_t n) {
  SLMKIT_ASSERT(file_ != nullptr && !committed_);
  if (n == 0) return;
  if (std::fwrite(data, 1, n, file_) != n)
    throw Error(cat(target_, ": write failed after ", bytes_written_, " bytes: ", std::strerror(errno),
                    ". Nothing was replaced (a previous file of that name is intact); free space and retry."));
  bytes_written_ += n;
}

void AtomicFile::commit() {
  SLMKIT_ASSERT(file_ != nullptr && !committed_);
  const bool flushed = std::fflush(file_) == 0 && ::fsync(::fileno(file_)) == 0;
  const int err = errno;
  std::fclose(file_);
  file_ = nullptr;
  SLMKIT_CHECK(flushed, target_, ": flushing ", bytes_written_, " bytes to disk failed: ", std::strerror(err),
               ". Nothing was replaced (a previous file of that name is intact); free space and retry.");
  SLMKIT_CHECK(::rename(temp_.c_str(), target_.c_str()) == 0, target_,
               ": cannot rename temporary file into place: ", std::strerror(errno));
  committed_ = true;
  const int dfd = ::open(parent_dir(target_).c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

void write_file_atomic(const std::string& path, const std::string& contents) {
  AtomicFile f(path);
  f.write(contents);
  f.commit();
}

}  // namespace slmkit
