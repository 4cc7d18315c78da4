// Errors for slmkit.
//
// Two kinds, kept apart on purpose:
//  * slmkit::Error — bad user input (a file, a flag, a config). The message names
//    what was read (file, tensor, field), what was expected, what was found, and
//    what to do. The CLI prints it and exits with status 1.
//  * slmkit::InternalError — a broken invariant inside slmkit (a bug). Raised by
//    SLMKIT_ASSERT; the CLI prints it with file:line and exits with status 70.
// Neither may escape an OpenMP region: catch inside, rethrow after the region.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace slmkit {

// Concatenates anything streamable: cat("tensor ", name, " has ", n, " dims").
template <typename... Args>
std::string cat(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

class InternalError : public std::logic_error {
 public:
  explicit InternalError(const std::string& message) : std::logic_error(message) {}
};

// Throws Error with a message built from the arguments when `cond` is false.
#define SLMKIT_CHECK(cond, ...)                               \
  do {                                                        \
    if (!(cond)) throw ::slmkit::Error(::slmkit::cat(__VA_ARGS__)); \
  } while (0)

// A bug check: the condition can only fail if slmkit itself is wrong.
#define SLMKIT_ASSERT(cond, ...)                                                     \
  do {                                                                               \
    if (!(cond))                                                                     \
      throw ::slmkit::InternalError(::slmkit::cat(__FILE__, ":", __LINE__,           \
                                                  ": internal error: ", #cond, ". ", \
                                                  ##__VA_ARGS__));                   \
  } while (0)

}  // namespace slmkit
