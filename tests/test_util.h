// Shared helpers for the test suite.
#pragma once

#include <cstdlib>
#include <string>
#include <unistd.h>

#include <gtest/gtest.h>

#include "core/error.h"

namespace slmkit::test {

// Root of the shared test data (models, text, tasks): $SLMKIT_DATA or ../shared/data.
inline std::string data_dir() {
  const char* env = std::getenv("SLMKIT_DATA");
  return env && *env ? std::string(env) : std::string(SLMKIT_DEFAULT_DATA);
}
inline std::string data_path(const std::string& rel) { return data_dir() + "/" + rel; }

// Small files committed under tests/fixtures.
inline std::string fixture_path(const std::string& rel) { return std::string(SLMKIT_FIXTURES) + "/" + rel; }

// The slmkit CLI binary built alongside the tests.
inline std::string slmkit_binary() { return SLMKIT_BINARY; }

// A fresh temporary directory for one test (removed by the OS; tests keep them small).
inline std::string make_temp_dir() {
  std::string pattern = ::testing::TempDir() + "slmkit_test_XXXXXX";
  const char* dir = ::mkdtemp(pattern.data());
  return dir ? std::string(dir) : std::string();
}

// Runs `fn`, which must throw slmkit::Error; returns its message (a test
// failure, and "", when nothing is thrown).
template <typename Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected slmkit::Error, nothing was thrown";
  return "";
}

}  // namespace slmkit::test
