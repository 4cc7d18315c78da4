// GGUF (llama.cpp's model file): a strict reader (v3, and v2 which differs only in
// being older) and a deterministic writer (v3). Layout and rules:
// ../shared/reference/formats.md §4; bad-input policy: reliability.md §6.
//
//   magic "GGUF" · u32 version · u64 n_tensors · u64 n_kv
//   n_kv × (string key · u32 value type · value)
//   n_tensors × (string name · u32 n_dims · u64 ne[n_dims] · u32 ggml type · u64 offset)
//   zero padding to the alignment · tensor data, each tensor padded to the alignment
//
// Strings are u64 length + bytes. Dims are in ggml order: ne[0] is the innermost
// (row) length, i.e. the reverse of a PyTorch shape. The reader accepts what
// llama.cpp's gguf.cpp accepts, and additionally requires zero padding and no
// trailing bytes, so that writing what it read reproduces the file byte for byte.
// The one exception: a file without tensors may end with or without the padding
// of its empty data section (llama.cpp's writer pads, gguf-py's vocab-only writer
// does not); the writer never pads it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/limits.h"
#include "io/ggml_blocks.h"
#include "io/mapped_file.h"

namespace slmkit {

// Metadata value types: file-format values, never renumber.
enum class GgufType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, U64 = 10, I64 = 11, F64 = 12,
};
std::string_view gguf_type_name(GgufType type);  // "u32", "string", "array", ...

// One metadata value: a scalar, a string, or a homogeneous array (of scalars,
// strings, or arrays). Numbers are kept as their little-endian bytes, so a value
// read from a file is written back bit for bit (NaN payloads included).
class GgufValue {
 public:
  GgufValue() : bytes_(1, '\0') {}  // u8 0
  static GgufValue u8(uint8_t v);
  static GgufValue i8(int8_t v);
  static GgufValue u16(uint16_t v);
  static GgufValue i16(int16_t v);
  static GgufValue u32(uint32_t v);
  static GgufValue i32(int32_t v);
  static GgufValue f32(float v);
  static GgufValue boolean(bool v);
  static GgufValue u64(uint64_t v);
  static GgufValue i64(int64_t v);
  static GgufValue f64(double v);
  static GgufValue string(std::string v);
  static GgufValue string_array(std::vector<std::string> items);
  static GgufValue f32_array(const std::vector<float>& items);
  static GgufValue i32_array(const std::vector<int32_t>& items);
  // Any array: every element must have type `element_type` (throws Error if not).
  static GgufValue array(GgufType element_type, const std::vector<GgufValue>& elements);

  GgufType type() const { return type_; }
  GgufType element_type() const { return element_type_; }  // ARRAY only
  uint64_t size() const { return count_; }                  // ARRAY: element count

  // Scalars; throw Error when the type does not fit ("expected an integer, found string").
  uint64_t as_uint() const;  // any integer type holding a value >= 0
  int64_t as_int() const;    // any integer type holding a value that fits int64
  double as_float() const;   // F32 or F64
  bool as_bool() const;
  const std::string& as_string() const;

  // Array elements.
  GgufValue element(uint64_t i) const;
  const std::vector<std::string>& strings() const;  // ARRAY of STRING

  // Appends the value's encoding (without its type tag) to `out`.
  void encode(std::string& out) const;
  // "\"llama\"", "32000", "[string × 32000: \"<unk>\", \"<s>\", ...]"
  std::string summary(size_t max_elements = 3, size_t max_chars = 60) const;

  bool operator==(const GgufValue& other) const;
  bool operator!=(const GgufValue& other) const { return !(*this == other); }

 private:
  friend class GgufParser;
  explicit GgufValue(GgufType type) : type_(type) {}  // no bytes yet
  static GgufValue scalar(GgufType type, const void* bytes);
  GgufType type_ = GgufType::U8;
  GgufType element_type_ = GgufType::U8;
  uint64_t count_ = 0;
  std::string bytes_;                 // numeric/BOOL scalar or array: packed little-endian
  std::vector<std::string> strings_;  // STRING: one; ARRAY of STRING: every element
  std::vector<GgufValue> arrays_;     // ARRAY of ARRAY
};

struct GgufKeyValue {
  std::string key;
  GgufValue value;
};

struct GgufTensor {
  std::string name;
  GgmlType type = GgmlType::F32;
  std::vector<int64_t> ne;        // ggml order: ne[0] = row length (innermost); at most 4 dims
  uint64_t offset = 0;            // from the start of the data section (set by the reader and writer)
  const uint8_t* data = nullptr;  // nbytes bytes, borrowed (the reader's mapping, or the caller's)
  uint64_t nbytes = 0;

  int64_t numel() const;
  std::vector<int64_t> torch_shape() const;  // ne reversed: [rows..., row length]
};

// Bounds on what a file may ask the reader to allocate. Every count is also
// checked against the bytes left in the file before anything is allocated.
// (The GGUF section of the one Limits struct, core/limits.h.)
using GgufLimits = Limits::Gguf;

struct GgufFile {
  std::string path;
  uint32_t version = 3;
  std::vector<GgufKeyValue> metadata;  // file order
  std::vector<GgufTensor> tensors;     // file order; data points into `mapping`
  uint64_t alignment = 32;             // general.alignment, or 32
  uint64_t data_offset = 0;            // file offset of the data section
  std::shared_ptr<const MappedFile> mapping;  // keeps tensor data alive (null for in-memory parses)

  const GgufValue* find(std::string_view key) const;
  const GgufTensor* find_tensor(std::string_view name) const;
  // Typed lookups; throw Error naming the file and key when missing or mistyped.
  const GgufValue& get(std::string_view key) const;
  std::string get_string(std::string_view key) const;
  uint64_t get_uint(std::string_view key) const;  // any unsigned or non-negative integer
  double get_float(std::string_view key) const;   // F32 or F64
  bool get_bool(std::string_view key) const;
  const std::vector<std::string>& get_strings(std::string_view key) const;  // array of strings
};

// Memory-maps and validates a GGUF file. Throws Error naming the file, the byte
// offset, the field, what was expected and what was found.
GgufFile read_gguf(const std::string& path, const GgufLimits& limits = {});
// The same over bytes in memory (`name` is used in messages); tensor data points
// into `bytes`, which must outlive the result.
GgufFile parse_gguf(const uint8_t* bytes, size_t size, const std::string& name,
                    const GgufLimits& limits = {});

// Writes a GGUF v3 file atomically: metadata in the given order, tensors in the
// given order at running offsets, each padded to the alignment (general.alignment
// if present, else 32). Each tensor's nbytes must match its type and dims; offsets
// given are ignored. Throws Error on invalid keys, names, dims or sizes.
void write_gguf(const std::string& path, const std::vector<GgufKeyValue>& metadata,
                const std::vector<GgufTensor>& tensors);

}  // namespace slmkit
