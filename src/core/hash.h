// A fast non-cryptographic 64-bit hash for fingerprints of jobs (model bytes,
// calibration data, settings): detects "this is a different job", not attacks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

namespace slmkit {

class Hasher64 {
 public:
  Hasher64& add(const void* data, size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      uint64_t w;
      std::memcpy(&w, p + i, 8);
      mix(w);
    }
    uint64_t tail = 0;
    std::memcpy(&tail, p + i, n - i);
    mix(tail ^ (static_cast<uint64_t>(n) << 56));  // the length separates "ab"+"c" from "a"+"bc"
    return *this;
  }
  Hasher64& add(const std::string& s) { return add(s.data(), s.size()); }
  uint64_t value() const {
    uint64_t h = h_;  // final avalanche (splitmix64's finalizer)
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    return h ^ (h >> 31);
  }
  std::string hex() const {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(value()));
    return buf;
  }

 private:
  void mix(uint64_t w) {
    h_ ^= w * 0x9e3779b97f4a7c15ULL;
    h_ = ((h_ << 27) | (h_ >> 37)) * 0xff51afd7ed558ccdULL + 0x52dce729ULL;
  }
  uint64_t h_ = 0xcbf29ce484222325ULL;
};

}  // namespace slmkit
