// Internal to the GGUF reader and writer (gguf*.cpp): the format's constants and
// the rules both sides check, so that the writer never produces what the reader
// would refuse. Not part of the public interface; include io/gguf.h instead.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "io/gguf.h"

namespace slmkit::gguf_detail {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "GGUF numbers are little-endian");

constexpr uint32_t kCurrentVersion = 3;
constexpr uint64_t kDefaultAlignment = 32;
constexpr uint64_t kMaxKeyBytes = 65535;        // the GGUF spec's bound
constexpr uint64_t kMaxTensorNameBytes = 63;    // GGML_MAX_NAME (64) including the NUL
constexpr uint32_t kGgmlMaxDims = 4;            // GGML_MAX_DIMS
constexpr uint64_t kMaxInt64 = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
constexpr const char* kAlignmentKey = "general.alignment";

// Bytes of a fixed-size value type, 0 for STRING/ARRAY, -1 for an invalid id.
int scalar_bytes(uint32_t type);
bool is_signed(GgufType t);
bool is_integer(GgufType t);
// A scalar's value from its little-endian bytes, sign-extended for signed types.
uint64_t load_bits(GgufType t, const char* p);

void append_u32(std::string& out, uint32_t v);
void append_u64(std::string& out, uint64_t v);
void append_string(std::string& out, const std::string& s);  // u64 length + bytes

std::string shape_text(const std::vector<int64_t>& ne);  // "[4096, 32000]"
uint64_t saturating_mul(uint64_t a, uint64_t b);
inline uint64_t align_up(uint64_t n, uint64_t alignment) { return (n + alignment - 1) / alignment * alignment; }

// A string from a file, shown in a message: quoted, escaped, shortened.
std::string quoted(std::string_view s, size_t max_chars = 60);

// Why a metadata key / tensor name / general.alignment value is unacceptable, or "" if it is fine.
std::string key_problem(const std::string& key);
std::string tensor_name_problem(const std::string& name);
std::string alignment_problem(const GgufValue& value, uint64_t max_alignment);

}  // namespace slmkit::gguf_detail
