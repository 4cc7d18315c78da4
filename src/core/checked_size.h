// Overflow-checked size arithmetic for readers of untrusted files. Every size,
// count × element size, offset + length and padding computed from values read
// from a file goes through these, so a wrap-around becomes an Error instead of
// an undersized allocation (the main bug class of model-file parsers,
// reliability.md §1.1). `what` names the quantity in the message.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "core/error.h"

namespace slmkit {

inline uint64_t checked_add(uint64_t a, uint64_t b, const std::string& what) {
  uint64_t out = 0;
  SLMKIT_CHECK(!__builtin_add_overflow(a, b, &out), what, " overflows 64 bits (", a, " + ", b, ")");
  return out;
}

inline uint64_t checked_mul(uint64_t a, uint64_t b, const std::string& what) {
  uint64_t out = 0;
  SLMKIT_CHECK(!__builtin_mul_overflow(a, b, &out), what, " overflows 64 bits (", a, " x ", b, ")");
  return out;
}

// x rounded up to a multiple of `alignment` (a power of two), checked before
// padding: GGML_PAD-style `(x + a - 1) & ~(a - 1)` wraps to 0 near 2^64.
inline uint64_t checked_pad(uint64_t x, uint64_t alignment, const std::string& what) {
  SLMKIT_ASSERT(alignment > 0 && (alignment & (alignment - 1)) == 0, "alignment ", alignment,
                " is not a power of two");
  const uint64_t bumped = checked_add(x, alignment - 1, what);
  return bumped & ~(alignment - 1);
}

// Element count of a shape whose dims are all >= 0, bounded by INT64_MAX (the
// type TensorView::numel() and LibTorch count in). A zero dim makes the count 0,
// but the other dims must still multiply without overflow: numel() multiplies
// left to right.
inline uint64_t checked_numel(const std::vector<int64_t>& shape, const std::string& what) {
  constexpr uint64_t kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  uint64_t n = 1;
  for (int64_t d : shape) {
    SLMKIT_CHECK(d >= 0, what, ": negative dimension ", d);
    const uint64_t next = checked_mul(n, static_cast<uint64_t>(d), what + " element count");
    SLMKIT_CHECK(next <= kMax, what, ": element count exceeds 2^63-1");
    n = next;
  }
  return n;
}

// Bytes of `numel` elements of `element_bytes` each, bounded by INT64_MAX.
inline uint64_t checked_nbytes(uint64_t numel, uint64_t element_bytes, const std::string& what) {
  constexpr uint64_t kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  const uint64_t n = checked_mul(numel, element_bytes, what + " byte size");
  SLMKIT_CHECK(n <= kMax, what, ": byte size exceeds 2^63-1");
  return n;
}

// A buffer the reader is about to allocate because of sizes read from a file.
inline void check_alloc(uint64_t bytes, uint64_t limit_bytes, const std::string& what) {
  SLMKIT_CHECK(bytes <= limit_bytes, what, " would need ", bytes, " bytes, more than the limit of ",
               limit_bytes, " (Limits::alloc_bytes); refusing a possibly hostile file");
}

}  // namespace slmkit
