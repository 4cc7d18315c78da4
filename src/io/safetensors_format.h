// Internal to the safetensors reader/writer: the validated header of one file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/limits.h"

namespace slmkit::safetensors_format {

// Reference MAX_HEADER_SIZE (decimal 100 MB), enforced on write so we never
// produce a file the reference reader refuses. The reader's bound is
// Limits::safetensors_header_bytes (the same value unless lowered).
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
// The JSON schema's bound on shape and offset integers.
constexpr uint64_t kMaxJsonInteger = (uint64_t{1} << 48) - 1;
// Bytes of the little-endian u64 header length that starts every file.
constexpr size_t kLengthPrefixBytes = 8;

struct TensorEntry {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // data_offsets, relative to the start of the byte buffer
  uint64_t end = 0;
};

struct Header {
  uint64_t header_bytes = 0;         // N: JSON length, so data starts at 8 + N
  std::vector<TensorEntry> tensors;  // sorted by data_offsets
  std::map<std::string, std::string> metadata;
};

// Applies every rule of the reference parser (sizes, UTF-8, strict JSON, field
// types, contiguous offsets, overflow, sizes, no trailing bytes) to a whole file's
// bytes. `path` is only used in error messages.
Header parse_header(const uint8_t* file_bytes, size_t file_size, const std::string& path,
                    const Limits& limits = Limits{});

// Position of a dtype in the reference `enum Dtype`, whose order is increasing
// alignment; the writer sorts on it so byte layouts match the reference writer.
int alignment_rank(DType t);

}  // namespace slmkit::safetensors_format
