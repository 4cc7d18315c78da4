// Shared by the libFuzzer targets. A target feeds the bytes to one reader with
// lowered limits and accepts exactly one outcome besides success: slmkit::Error
// (a clear refusal). Anything else — a crash, a sanitizer report, an
// InternalError (an input reached a broken invariant), any other exception
// (e.g. nlohmann::json's type_error, std::out_of_range, std::bad_alloc) — escapes
// and libFuzzer reports it as a finding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "core/limits.h"

namespace slmkit::fuzz {

// Lower than the defaults so the fuzzer's 2 GB RSS / 1 GB malloc caps are only
// hit by a real bug (an allocation not bounded by the limits), never by a big
// but legal request.
inline Limits lowered_limits() {
  Limits l;
  l.alloc_bytes = uint64_t{64} << 20;
  l.safetensors_header_bytes = uint64_t{1} << 20;
  l.side_file_bytes = uint64_t{16} << 20;
  l.zip_entries = 1000;
  l.pickle.max_memo_entries = 4096;
  l.pickle.max_stack_values = 4096;
  l.pickle.max_string_bytes = 4096;
  l.pickle.max_container_items = 4096;
  l.pickle.max_values = 1 << 16;
  l.gguf.max_tensors = 4096;
  l.gguf.max_kv = 4096;
  l.gguf.max_string_bytes = 1 << 16;
  l.gguf.max_array_elements = 1 << 16;
  l.vocab_size = 1 << 16;
  l.token_bytes = 1 << 12;
  l.text_file_bytes = uint64_t{16} << 20;
  return l;
}

inline std::string bytes_of(const uint8_t* data, size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

// Runs `body`; a slmkit::Error is the expected refusal of bad input.
template <typename Body>
int run_expecting_only_errors(Body&& body) {
  try {
    body();
  } catch (const Error&) {
  }
  return 0;
}

// Reads every byte of a view, so a view that points outside its buffer is an
// ASan report here rather than a silent out-of-bounds pointer.
inline uint64_t touch(const uint8_t* p, uint64_t n) {
  uint64_t sum = 0;
  for (uint64_t i = 0; i < n; ++i) sum += p[i];
  return sum;
}

}  // namespace slmkit::fuzz
