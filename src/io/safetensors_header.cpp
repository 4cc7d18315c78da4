// Validation of a safetensors header: the reference parser's rules, plus the
// JSON schema's (no extra fields, integers <= 2^48-1) and no duplicate keys.
#include <algorithm>
#include <array>
#include <limits>
#include <nlohmann/json.hpp>
#include <string_view>
#include <tuple>

#include "core/error.h"
#include "core/tensor_view.h"
#include "io/json.h"
#include "io/safetensors_format.h"

namespace slmkit::safetensors_format {
namespace {

using nlohmann::json;

// The reference `enum Dtype` order (increasing alignment), restricted to the
// dtypes slmkit supports.
constexpr std::array<DType, 15> kReferenceDTypeOrder = {
    DType::BOOL, DType::U8,  DType::I8,  DType::F8_E5M2, DType::F8_E4M3,
    DType::I16,  DType::U16, DType::F16, DType::BF16,    DType::I32,
    DType::U32,  DType::F32, DType::F64, DType::I64,     DType::U64,
};

std::string supported_dtype_names() {
  std::string names;
  for (DType t : kReferenceDTypeOrder) {
    if (!names.empty()) names += ", ";
    names += dtype_name(t);
  }
  return names;
}

// "a number (-3)" / "a string ("x")": what was found, kept short because it
// comes from a file we are refusing.
std::string describe(const json& value) {
  constexpr size_t kMaxShownChars = 60;
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() > kMaxShownChars) text = text.substr(0, kMaxShownChars) + "...";
  if (value.is_number_float()) return cat("a non-integer number (", text, ")");
  if (value.is_number_integer() && !value.is_number_unsigned())
    return cat("a negative number (", text, ")");
  return cat("a JSON ", value.type_name(), " (", text, ")");
}

uint64_t read_le_u64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// Index of the first byte that is not well-formed UTF-8 (RFC 3629: no overlong
// forms, no surrogates, nothing above U+10FFFF), or `n` if all are.
size_t first_invalid_utf8(const uint8_t* s, size_t n) {
  size_t i = 0;
  while (i < n) {
    const uint8_t lead = s[i];
    if (lead < 0x80) {
      ++i;
      continue;
    }
    size_t length = 0;
    uint8_t second_min = 0x80, second_max = 0xBF;  // range of the 2nd byte
    if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2;
    } else if (lead == 0xE0) {
      length = 3, second_min = 0xA0;  // below: overlong
    } else if (lead == 0xED) {
      length = 3, second_max = 0x9F;  // above: UTF-16 surrogates
    } else if (lead >= 0xE1 && lead <= 0xEF) {
      length = 3;
    } else if (lead == 0xF0) {
      length = 4, second_min = 0x90;  // below: overlong
    } else if (lead >= 0xF1 && lead <= 0xF3) {
      length = 4;
    } else if (lead == 0xF4) {
      length = 4, second_max = 0x8F;  // above: beyond U+10FFFF
    } else {
      return i;
    }
    if (length > n - i || s[i + 1] < second_min || s[i + 1] > second_max) return i;
    for (size_t k = 2; k < length; ++k)
      if ((s[i + k] & 0xC0) != 0x80) return i;
    i += length;
  }
  return n;
}

uint64_t parse_bounded_integer(const json& value, const std::string& where) {
  SLMKIT_CHECK(value.is_number_unsigned() && value.get<uint64_t>() <= kMaxJsonInteger, where,
               ": expected an integer in [0, 2^48-1], found ", describe(value));
  return value.get<uint64_t>();
}

std::map<std::string, std::string> parse_metadata(const json& value, const std::string& path) {
  SLMKIT_CHECK(value.is_object(), path, ": header field \"__metadata__\" must be an object ",
               "mapping strings to strings, found ", describe(value));
  std::map<std::string, std::string> metadata;
  for (const auto& [key, item] : value.items()) {
    SLMKIT_CHECK(item.is_string(), path, ": header field \"__metadata__\" must map strings to ",
                 "strings, but key \"", key, "\" has ", describe(item));
    metadata.emplace(key, item.get<std::string>());
  }
  return metadata;
}

TensorEntry parse_entry(const std::string& name, const json& value, const std::string& path) {
  const std::string where = cat(path, ": tensor \"", name, "\"");
  SLMKIT_CHECK(value.is_object(), where, ": expected an object with \"dtype\", \"shape\" and ",
               "\"data_offsets\", found ", describe(value));
  static constexpr std::array<std::string_view, 3> kFields = {"dtype", "shape", "data_offsets"};
  for (const auto& field : value.items())
    SLMKIT_CHECK(std::find(kFields.begin(), kFields.end(), field.key()) != kFields.end(), where,
                 ": unexpected extra field \"", field.key(), "\"; a tensor entry has exactly ",
                 "\"dtype\", \"shape\" and \"data_offsets\"");
  for (std::string_view field : kFields)
    SLMKIT_CHECK(value.contains(field), where, ": missing field \"", field,
                 "\"; a tensor entry has exactly \"dtype\", \"shape\" and \"data_offsets\"");

  TensorEntry entry;
  entry.name = name;

  const json& dtype = value["dtype"];
  SLMKIT_CHECK(dtype.is_string(), where, ": field \"dtype\" must be a string, found ",
               describe(dtype));
  const auto parsed_dtype = dtype_from_name(dtype.get_ref<const std::string&>());
  SLMKIT_CHECK(parsed_dtype.has_value(), where, ": unknown or unsupported dtype \"",
               dtype.get_ref<const std::string&>(), "\"; expected one of ",
               supported_dtype_names());
  entry.dtype = *parsed_dtype;

  const json& shape = value["shape"];
  SLMKIT_CHECK(shape.is_array(), where, ": field \"shape\" must be an array of integers, found ",
               describe(shape));
  for (size_t i = 0; i < shape.size(); ++i)
    entry.shape.push_back(static_cast<int64_t>(
        parse_bounded_integer(shape[i], cat(where, ": field \"shape\"[", i, "]"))));

  const json& offsets = value["data_offsets"];
  SLMKIT_CHECK(offsets.is_array() && offsets.size() == 2, where,
               ": field \"data_offsets\" must be an array [begin, end], found ", describe(offsets));
  entry.begin = parse_bounded_integer(offsets[0], cat(where, ": field \"data_offsets\"[0]"));
  entry.end = parse_bounded_integer(offsets[1], cat(where, ": field \"data_offsets\"[1]"));
  SLMKIT_CHECK(entry.begin <= entry.end, where, ": data_offsets [", entry.begin, ", ", entry.end,
               "] have begin > end; end is one past the last byte, so it must be >= begin");
  return entry;
}

// Bytes the tensor needs, or throws on overflow. The bound is int64 (not uint64)
// because TensorView::numel() multiplies in int64.
uint64_t required_bytes(const TensorEntry& t, const std::string& path) {
  constexpr uint64_t kLimit = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  uint64_t numel = 1;
  for (int64_t dim : t.shape) {
    uint64_t product = 0;
    const bool overflow = __builtin_mul_overflow(numel, static_cast<uint64_t>(dim), &product);
    SLMKIT_CHECK(!overflow && product <= kLimit, path, ": tensor \"", t.name, "\": shape ",
                 shape_str(t.shape), " overflows the element count (more than 2^63-1 elements)");
    numel = product;
  }
  uint64_t nbytes = 0;
  const bool overflow = __builtin_mul_overflow(numel, uint64_t{dtype_size(t.dtype)}, &nbytes);
  SLMKIT_CHECK(!overflow && nbytes <= kLimit, path, ": tensor \"", t.name, "\": shape ",
               shape_str(t.shape), " of ", dtype_name(t.dtype),
               " overflows the byte size (more than 2^63-1 bytes)");
  return nbytes;
}

// Offsets must tile [0, last end) exactly: no gap a polyglot file could hide
// bytes in, no overlap that would alias two tensors.
void check_contiguous(const TensorEntry& t, const TensorEntry* previous, const std::string& path) {
  const uint64_t expected_begin = previous ? previous->end : 0;
  if (t.begin == expected_begin) return;
  const std::string where =
      cat(path, ": tensor \"", t.name, "\": data_offsets [", t.begin, ", ", t.end, "]");
  SLMKIT_CHECK(previous != nullptr, where, " leave a gap of ", t.begin,
               " bytes at the start of the data; the first tensor must begin at offset 0");
  SLMKIT_CHECK(t.begin < expected_begin, where, " leave a gap of ", t.begin - expected_begin,
               " bytes after tensor \"", previous->name, "\" (which ends at ", previous->end,
               "); tensor data must be contiguous");
  throw Error(cat(where, " overlap tensor \"", previous->name, "\" (which ends at ", previous->end,
                  "); tensors must not share bytes"));
}

}  // namespace

int alignment_rank(DType t) {
  const auto it = std::find(kReferenceDTypeOrder.begin(), kReferenceDTypeOrder.end(), t);
  SLMKIT_ASSERT(it != kReferenceDTypeOrder.end(), "dtype ", dtype_name(t),
                " is missing from the reference dtype order");
  return static_cast<int>(it - kReferenceDTypeOrder.begin());
}

Header parse_header(const uint8_t* file_bytes, size_t file_size, const std::string& path,
                    const Limits& limits) {
  SLMKIT_CHECK(file_size >= kLengthPrefixBytes, path, ": file is ", file_size,
               " bytes, too small to hold the 8-byte header length every safetensors file ",
               "starts with; it is truncated or not a safetensors file");
  Header header;
  header.header_bytes = read_le_u64(file_bytes);
  const uint64_t max_header = std::min<uint64_t>(kMaxHeaderBytes, limits.safetensors_header_bytes);
  SLMKIT_CHECK(header.header_bytes <= max_header, path, ": header too large: the length ",
               "field says ", header.header_bytes, " bytes, the format allows at most ",
               max_header, "; the file is corrupt or not a safetensors file");
  const uint64_t bytes_after_prefix = file_size - kLengthPrefixBytes;
  SLMKIT_CHECK(header.header_bytes <= bytes_after_prefix, path, ": header of ", header.header_bytes,
               " bytes extends past the end of the file (only ", bytes_after_prefix,
               " bytes follow the length field); the file is truncated");

  const uint8_t* header_text = file_bytes + kLengthPrefixBytes;
  const size_t header_size = static_cast<size_t>(header.header_bytes);
  const size_t bad_byte = first_invalid_utf8(header_text, header_size);
  SLMKIT_CHECK(bad_byte == header_size, path, ": header is not valid UTF-8 (byte ", bad_byte,
               " of the header, file offset ", bad_byte + kLengthPrefixBytes, ")");

  SLMKIT_CHECK(header_size > 0 && header_text[0] == '{', path, ": header must start with '{' ",
               "(file offset 8), found ",
               header_size == 0 ? std::string("an empty header")
                                : cat("0x", std::hex, int{header_text[0]}));
  // Writers pad the header with spaces; some pad with NUL bytes, which is not JSON.
  // Say so plainly instead of reporting a JSON syntax error.
  const size_t last_brace = std::string_view(reinterpret_cast<const char*>(header_text), header_size)
                                .find_last_of('}');
  for (size_t i = last_brace == std::string_view::npos ? header_size : last_brace + 1;
       i < header_size; ++i)
    SLMKIT_CHECK(header_text[i] != 0, path, ": header has trailing non-space bytes (NUL padding?) ",
                 "at header byte ", i, " (file offset ", i + kLengthPrefixBytes,
                 "); the header must be padded with spaces (0x20)");

  const json root = parse_json_strict(std::string(header_text, header_text + header_size),
                                      cat("header of ", path), limits);
  SLMKIT_CHECK(root.is_object(), path, ": header must be a JSON object {name: entry, ...}, found ",
               describe(root));
  for (const auto& [key, value] : root.items()) {
    // A NUL (JSON "\u0000") hides the rest of a name from C-string code (safetensors#748).
    SLMKIT_CHECK(!key.empty() && key.find('\0') == std::string::npos, path,
                 ": invalid tensor name \"", key.substr(0, key.find('\0')), "\"",
                 key.empty() ? " (empty)" : " (contains a NUL character)",
                 "; tensor names must be non-empty and NUL-free");
    if (key == "__metadata__")
      header.metadata = parse_metadata(value, path);
    else
      header.tensors.push_back(parse_entry(key, value, path));
  }

  // Header order is free ("previous versions might have a different ordering"),
  // so validate in offset order.
  std::sort(header.tensors.begin(), header.tensors.end(),
            [](const TensorEntry& a, const TensorEntry& b) {
              return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
            });
  const TensorEntry* previous = nullptr;
  for (const TensorEntry& t : header.tensors) {
    check_contiguous(t, previous, path);
    const uint64_t nbytes = required_bytes(t, path);
    SLMKIT_CHECK(t.end - t.begin == nbytes, path, ": tensor \"", t.name,
                 "\": size mismatch: ", "data_offsets [", t.begin, ", ", t.end, "] hold ",
                 t.end - t.begin, " bytes, but dtype ", dtype_name(t.dtype), " with shape ",
                 shape_str(t.shape), " needs ", nbytes, " bytes");
    previous = &t;
  }

  const uint64_t data_end = previous ? previous->end : 0;
  const uint64_t data_bytes = bytes_after_prefix - header.header_bytes;
  SLMKIT_CHECK(data_end <= data_bytes, path, ": tensor \"", previous ? previous->name : "",
               "\" ends at data offset ", data_end, ", past the end of the file (only ", data_bytes,
               " data bytes follow the header); the file is truncated");
  SLMKIT_CHECK(data_end == data_bytes, path, ": ", data_bytes - data_end,
               " trailing bytes after the last tensor",
               previous ? cat(" \"", previous->name, "\"") : "", " (data ends at offset ", data_end,
               " of ", data_bytes,
               "); every byte must belong to a tensor, so the file is corrupt or was appended to");
  return header;
}

}  // namespace slmkit::safetensors_format
