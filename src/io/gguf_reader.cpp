// The strict GGUF reader (parse_gguf, read_gguf); see io/gguf.h.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <limits>
#include <unordered_set>

#include "core/error.h"
#include "io/gguf.h"
#include "io/gguf_rules.h"

namespace slmkit {

using namespace gguf_detail;

// ---------------------------------------------------------------- reader

// Reads the file front to back. Every read is bounds-checked, every count is
// checked against the bytes left before anything is allocated, and every error
// names the file, the byte offset and the field.
class GgufParser {
 public:
  GgufParser(const uint8_t* data, size_t size, const std::string& name, const GgufLimits& limits)
      : data_(data), size_(size), name_(name), limits_(limits) {}

  GgufFile parse() {
    GgufFile file;
    file.path = name_;
    const auto [n_tensors, n_kv] = read_header(file);
    read_metadata(file, n_kv);
    read_alignment(file);
    read_tensor_infos(file, n_tensors);
    check_data_section(file);
    return file;
  }

 private:
  [[noreturn]] void fail(size_t at, std::string_view field, const std::string& message) const {
    throw Error(cat(name_, ": byte ", at, ": ", field, ": ", message));
  }

  size_t remaining() const { return size_ - pos_; }

  void need(uint64_t n, std::string_view field) const {
    if (n > remaining())
      fail(pos_, field, cat("file truncated: need ", n, " bytes, only ", remaining(), " remain"));
  }

  template <typename T>
  T read(std::string_view field) {
    need(sizeof(T), field);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  std::string read_string(std::string_view field, uint64_t max_bytes) {
    const size_t at = pos_;
    const uint64_t n = read<uint64_t>(field);
    if (n > max_bytes) fail(at, field, cat("string length ", n, " exceeds the limit of ", max_bytes, " bytes"));
    if (n > remaining())
      fail(at, field, cat("string length ", n, " runs past the end of the file (", remaining(), " bytes remain)"));
    std::string s(reinterpret_cast<const char*>(data_ + pos_), static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return s;
  }

  GgufType read_type(std::string_view field) {
    const size_t at = pos_;
    const uint32_t t = read<uint32_t>(field);
    if (scalar_bytes(t) < 0) fail(at, field, cat("invalid value type ", t, " (valid: 0-12)"));
    return static_cast<GgufType>(t);
  }

  std::pair<uint64_t, uint64_t> read_header(GgufFile& file) {
    need(4, "magic");
    if (std::memcmp(data_, "GGUF", 4) != 0) {
      char found[16];
      std::snprintf(found, sizeof(found), "%02x %02x %02x %02x", data_[0], data_[1], data_[2], data_[3]);
      fail(0, "magic", cat("expected \"GGUF\" (47 47 55 46), found ", found, "; not a GGUF file"));
    }
    pos_ = 4;
    const uint32_t version = read<uint32_t>("version");
    if ((version & 0xFFFF) == 0 && version != 0)
      fail(4, "version", cat("found 0x", std::hex, version, std::dec,
                             ", a byte-swapped version: a big-endian GGUF or a corrupt file; slmkit reads "
                             "little-endian GGUF v2 and v3"));
    if (version == 1)
      fail(4, "version", "GGUF v1 is no longer supported (as in llama.cpp); re-convert the model");
    if (version < 2 || version > kCurrentVersion)
      fail(4, "version", cat("unsupported GGUF version ", version, "; slmkit reads versions 2 and 3"));
    file.version = version;
    const uint64_t n_tensors = read<uint64_t>("tensor count");
    const uint64_t n_kv = read<uint64_t>("metadata key-value count");
    // Lower bounds per entry: key/name length (8) + type (4) + a 1-byte value;
    // name length (8) + n_dims (4) + type (4) + offset (8).
    constexpr uint64_t kMinKvBytes = 13, kMinTensorInfoBytes = 24;
    const uint64_t kv_bytes = saturating_mul(n_kv, kMinKvBytes);
    const uint64_t info_bytes = saturating_mul(n_tensors, kMinTensorInfoBytes);
    if (kv_bytes > remaining() || info_bytes > remaining() - kv_bytes)
      fail(8, "tensor and key-value counts",
           cat("header counts impossible for the file size: ", n_tensors, " tensors and ", n_kv,
               " key-value pairs need at least ", kMinTensorInfoBytes, " and ", kMinKvBytes,
               " bytes each, but only ", remaining(), " bytes follow the header"));
    if (n_tensors > limits_.max_tensors)
      fail(8, "tensor count",
           cat(n_tensors, " exceeds the limit of ", limits_.max_tensors, " (GgufLimits::max_tensors)"));
    if (n_kv > limits_.max_kv)
      fail(16, "metadata key-value count",
           cat(n_kv, " exceeds the limit of ", limits_.max_kv, " (GgufLimits::max_kv)"));
    return {n_tensors, n_kv};
  }

  void read_metadata(GgufFile& file, uint64_t n_kv) {
    std::unordered_set<std::string> seen;
    file.metadata.reserve(static_cast<size_t>(n_kv));
    for (uint64_t i = 0; i < n_kv; ++i) {
      const size_t at = pos_;
      const std::string field = cat("metadata entry #", i);
      GgufKeyValue kv;
      kv.key = read_string(field, kMaxKeyBytes);
      if (const std::string problem = key_problem(kv.key); !problem.empty()) fail(at, field, problem);
      if (!seen.insert(kv.key).second) fail(at, field, cat("duplicate key ", quoted(kv.key)));
      const std::string key_field = cat("key ", quoted(kv.key));
      kv.value = read_value(read_type(key_field), key_field, 0);
      file.metadata.push_back(std::move(kv));
    }
  }

  GgufValue read_value(GgufType type, std::string_view field, uint32_t depth) {
    if (type == GgufType::STRING) return GgufValue::string(read_string(field, limits_.max_string_bytes));
    if (type == GgufType::ARRAY) return read_array(field, depth);
    const size_t at = pos_;
    need(static_cast<uint64_t>(scalar_bytes(static_cast<uint32_t>(type))), field);
    GgufValue v = GgufValue::scalar(type, data_ + pos_);
    pos_ += v.bytes_.size();
    if (type == GgufType::BOOL && data_[at] > 1) fail(at, field, cat("bool must be 0 or 1, found ", int{data_[at]}));
    return v;
  }

  GgufValue read_array(std::string_view field, uint32_t depth) {
    const size_t at = pos_;
    if (depth >= limits_.max_array_depth)
      fail(at, field, cat("arrays nested deeper than ", limits_.max_array_depth, " levels"));
    GgufValue v(GgufType::ARRAY);
    v.element_type_ = read_type(field);
    v.count_ = read<uint64_t>(field);
    if (v.count_ > limits_.max_array_elements)
      fail(at, field, cat("array of ", v.count_, " elements exceeds the limit of ", limits_.max_array_elements));
    const int element_bytes = scalar_bytes(static_cast<uint32_t>(v.element_type_));
    // Smallest encoding of one element: a string's length, an array's type + count.
    const uint64_t min_element_bytes = element_bytes > 0 ? static_cast<uint64_t>(element_bytes)
                                       : v.element_type_ == GgufType::STRING ? 8 : 12;
    if (v.count_ * min_element_bytes > remaining())  // no overflow: count_ < 2^40 by the limit check
      fail(at, field, cat("array of ", v.count_, " ", gguf_type_name(v.element_type_), " needs at least ",
                          v.count_ * min_element_bytes, " bytes, only ", remaining(), " remain"));
    const auto n = static_cast<size_t>(v.count_);
    if (v.element_type_ == GgufType::STRING) {
      v.strings_.reserve(n);
      for (size_t i = 0; i < n; ++i) v.strings_.push_back(read_string(field, limits_.max_string_bytes));
    } else if (v.element_type_ == GgufType::ARRAY) {
      v.arrays_.reserve(n);
      for (size_t i = 0; i < n; ++i) v.arrays_.push_back(read_array(field, depth + 1));
    } else {
      const size_t bytes = n * static_cast<size_t>(element_bytes);
      v.bytes_.assign(reinterpret_cast<const char*>(data_ + pos_), bytes);
      if (v.element_type_ == GgufType::BOOL)
        for (size_t i = 0; i < n; ++i)
          if (data_[pos_ + i] > 1)
            fail(pos_ + i, field, cat("bool element ", i, " must be 0 or 1, found ", int{data_[pos_ + i]}));
      pos_ += bytes;
    }
    return v;
  }

  void read_alignment(GgufFile& file) {
    file.alignment = kDefaultAlignment;
    const GgufValue* value = file.find(kAlignmentKey);
    if (value == nullptr) return;
    if (const std::string problem = alignment_problem(*value, limits_.max_alignment); !problem.empty())
      throw Error(cat(name_, ": metadata key \"", kAlignmentKey, "\": ", problem));
    file.alignment = value->as_uint();
  }

  void read_tensor_infos(GgufFile& file, uint64_t n_tensors) {
    std::unordered_set<std::string> seen;
    file.tensors.reserve(static_cast<size_t>(n_tensors));
    const uint32_t max_dims = std::min(limits_.max_dims, kGgmlMaxDims);
    for (uint64_t i = 0; i < n_tensors; ++i) {
      const size_t at = pos_;
      GgufTensor t;
      t.name = read_string(cat("name of tensor #", i), kMaxTensorNameBytes);
      const std::string field = cat("tensor ", quoted(t.name));
      if (const std::string problem = tensor_name_problem(t.name); !problem.empty()) fail(at, field, problem);
      if (!seen.insert(t.name).second) fail(at, field, "duplicate tensor name");

      const size_t dims_at = pos_;
      const uint32_t n_dims = read<uint32_t>(field);
      if (n_dims > max_dims) fail(dims_at, field, cat("n_dims is ", n_dims, "; expected at most ", max_dims));
      uint64_t numel = 1;
      for (uint32_t d = 0; d < n_dims; ++d) {
        const uint64_t ne = read<uint64_t>(field);
        if (ne > kMaxInt64) fail(dims_at, field, cat("dimension ", d, " is ", ne, ", more than 2^63-1"));
        t.ne.push_back(static_cast<int64_t>(ne));
        if (__builtin_mul_overflow(numel, ne, &numel) || numel > kMaxInt64)
          fail(dims_at, field, cat("dims ", shape_text(t.ne), "... overflow the element count (2^63-1)"));
      }

      const size_t type_at = pos_;
      const uint32_t type_id = read<uint32_t>(field);
      const GgmlTypeInfo* info = find_ggml_type(type_id);
      if (info == nullptr)
        fail(type_at, field, cat("unknown ggml type id ", type_id, " (removed from ggml, or newer than slmkit)"));
      t.type = info->type;
      t.nbytes = tensor_bytes(t, *info, numel, type_at, field);
      t.offset = read<uint64_t>(field);
      file.tensors.push_back(std::move(t));
    }
  }

  uint64_t tensor_bytes(const GgufTensor& t, const GgmlTypeInfo& info, uint64_t numel, size_t at,
                        std::string_view field) const {
    const uint64_t row = t.ne.empty() ? 1 : static_cast<uint64_t>(t.ne[0]);
    if (row % static_cast<uint64_t>(info.block_size) != 0)
      fail(at, field, cat("type ", info.name, " needs rows (ne[0]) that are a multiple of ", info.block_size,
                          ", found ", row));
    uint64_t bytes = 0;
    if (__builtin_mul_overflow(numel / static_cast<uint64_t>(info.block_size), info.block_bytes, &bytes) ||
        bytes > kMaxInt64)
      fail(at, field, cat("dims ", shape_text(t.ne), " of ", info.name, " overflow the byte size (2^63-1)"));
    return bytes;
  }

  // Zero padding between `begin` and `end`: anything else could hide data (polyglot
  // files) and would not survive a rewrite.
  void check_zero(size_t begin, size_t end, std::string_view field) const {
    for (size_t i = begin; i < end; ++i)
      if (data_[i] != 0) fail(i, field, cat("padding byte is 0x", std::hex, int{data_[i]}, "; padding must be zero"));
  }

  void check_data_section(GgufFile& file) {
    const uint64_t infos_end = pos_;
    const uint64_t aligned = align_up(infos_end, file.alignment);
    if (file.tensors.empty()) {
      // gguf-py's vocab-only writer stops here; llama.cpp's writer pads first.
      if (size_ == aligned) check_zero(infos_end, aligned, "data section padding");
      else if (size_ != infos_end)
        fail(infos_end, "end of file", cat(size_ - infos_end, " unexpected trailing bytes after the tensor infos of a "
                                           "file without tensors"));
      file.data_offset = size_;
      return;
    }
    if (aligned > size_)
      fail(infos_end, "data section", cat("file truncated: the data section starts at byte ", aligned, " (aligned to ",
                                          file.alignment, "), but the file has ", size_, " bytes"));
    check_zero(infos_end, aligned, "padding before the data section");
    file.data_offset = aligned;
    const uint64_t data_size = size_ - aligned;
    uint64_t expected = 0;  // running padded end, in tensor-info order (llama.cpp's rule)
    const GgufTensor* previous = nullptr;
    for (GgufTensor& t : file.tensors) {
      const std::string field = cat("tensor ", quoted(t.name));
      const size_t at = aligned + std::min<uint64_t>(t.offset, data_size);
      if (t.offset % file.alignment != 0)
        fail(at, field, cat("data offset ", t.offset, " is not a multiple of the alignment ", file.alignment));
      uint64_t end = 0, padded_end = 0;
      if (__builtin_add_overflow(t.offset, t.nbytes, &end) || end > data_size)
        fail(at, field, cat("data [", t.offset, ", ", t.offset, " + ", t.nbytes, ") lies beyond the ", data_size,
                            " bytes of tensor data in the file (data offset out of bounds, or file truncated)"));
      if (t.offset < expected)
        fail(at, field, cat("data at offset ", t.offset, " overlaps tensor ", quoted(previous->name),
                            " (which ends at ", expected, " with padding); tensors must not share bytes"));
      if (t.offset > expected)
        fail(at, field, cat("data at offset ", t.offset, " leaves a gap of ", t.offset - expected, " bytes after ",
                            previous ? "tensor " + quoted(previous->name) : std::string("the start of the data"),
                            "; expected offset ", expected, " (tensors are contiguous in tensor-info order)"));
      padded_end = align_up(end, file.alignment);  // end < 2^64 − 2^20, cannot overflow
      if (padded_end > data_size)
        fail(aligned + end, field, cat("file truncated: the tensor's padding to ", padded_end,
                                       " runs past the end of the data (", data_size, " bytes)"));
      check_zero(aligned + end, aligned + padded_end, cat("padding after ", field));
      t.data = data_ + aligned + t.offset;
      expected = padded_end;
      previous = &t;
    }
    if (expected != data_size)
      fail(aligned + expected, "end of file",
           cat(data_size - expected, " unexpected trailing bytes after the last tensor's data"));
  }

  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  const std::string& name_;
  const GgufLimits& limits_;
};

GgufFile parse_gguf(const uint8_t* bytes, size_t size, const std::string& name, const GgufLimits& limits) {
  return GgufParser(bytes, size, name, limits).parse();
}

GgufFile read_gguf(const std::string& path, const GgufLimits& limits) {
  std::shared_ptr<const MappedFile> mapping = MappedFile::open(path);
  GgufFile file = parse_gguf(mapping->data(), mapping->size(), path, limits);
  file.mapping = std::move(mapping);
  return file;
}

}  // namespace slmkit
