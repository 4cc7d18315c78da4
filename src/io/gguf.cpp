#include "io/gguf.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <limits>
#include <unordered_set>

#include "core/error.h"
#include "io/atomic_file.h"

namespace slmkit {
namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "GGUF numbers are little-endian");

constexpr uint32_t kCurrentVersion = 3;
constexpr uint64_t kDefaultAlignment = 32;
constexpr uint64_t kMaxKeyBytes = 65535;        // the GGUF spec's bound
constexpr uint64_t kMaxTensorNameBytes = 63;    // GGML_MAX_NAME (64) including the NUL
constexpr uint32_t kGgmlMaxDims = 4;            // GGML_MAX_DIMS
constexpr uint64_t kMaxInt64 = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
constexpr const char* kAlignmentKey = "general.alignment";

// Bytes of a fixed-size value type, 0 for STRING/ARRAY, -1 for an invalid id.
int scalar_bytes(uint32_t type) {
  static constexpr int kBytes[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
  return type < std::size(kBytes) ? kBytes[type] : -1;
}

bool is_signed(GgufType t) {
  return t == GgufType::I8 || t == GgufType::I16 || t == GgufType::I32 || t == GgufType::I64;
}
bool is_integer(GgufType t) {
  return is_signed(t) || t == GgufType::U8 || t == GgufType::U16 || t == GgufType::U32 ||
         t == GgufType::U64;
}

// A scalar's value from its little-endian bytes, sign-extended for signed types.
uint64_t load_bits(GgufType t, const char* p) {
  const int n = scalar_bytes(static_cast<uint32_t>(t));
  uint64_t bits = 0;
  std::memcpy(&bits, p, static_cast<size_t>(n));
  if (is_signed(t) && n < 8 && (bits >> (8 * n - 1)) & 1) bits |= ~uint64_t{0} << (8 * n);
  return bits;
}

void append_u32(std::string& out, uint32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); }
void append_u64(std::string& out, uint64_t v) { out.append(reinterpret_cast<const char*>(&v), 8); }
void append_string(std::string& out, const std::string& s) {
  append_u64(out, s.size());
  out += s;
}

std::string shape_text(const std::vector<int64_t>& ne) {
  std::string s = "[";
  for (size_t i = 0; i < ne.size(); ++i) s += (i ? ", " : "") + std::to_string(ne[i]);
  return s + "]";
}

uint64_t saturating_mul(uint64_t a, uint64_t b) {
  uint64_t r = 0;
  return __builtin_mul_overflow(a, b, &r) ? std::numeric_limits<uint64_t>::max() : r;
}

uint64_t align_up(uint64_t n, uint64_t alignment) { return (n + alignment - 1) / alignment * alignment; }

// A string from a file, shown in a message: quoted, escaped, shortened.
std::string quoted(std::string_view s, size_t max_chars = 60) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size() && i < max_chars; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + (s.size() > max_chars ? "\"..." : "\"");
}

// Why a metadata key is unacceptable, or "" if it is fine.
std::string key_problem(const std::string& key) {
  if (key.empty()) return "the key is empty";
  if (key.size() > kMaxKeyBytes) return cat("the key is ", key.size(), " bytes, more than ", kMaxKeyBytes);
  for (size_t i = 0; i < key.size(); ++i) {
    const auto c = static_cast<unsigned char>(key[i]);
    if (c < 0x20 || c > 0x7e)
      return cat("byte ", i, " of the key is 0x", std::hex, int{c}, "; keys are printable ASCII");
  }
  return "";
}

std::string tensor_name_problem(const std::string& name) {
  if (name.empty()) return "the tensor name is empty";
  if (name.size() > kMaxTensorNameBytes)
    return cat("the tensor name is ", name.size(), " bytes; ggml allows at most ", kMaxTensorNameBytes);
  return "";
}

std::string alignment_problem(const GgufValue& value, uint64_t max_alignment) {
  if (value.type() != GgufType::U32)
    return cat("expected a u32 (as llama.cpp requires), found ", gguf_type_name(value.type()));
  const uint64_t a = value.as_uint();
  if (a == 0 || (a & (a - 1)) != 0) return cat("expected a power of two, found ", a);
  if (a > max_alignment) return cat("expected at most ", max_alignment, " bytes, found ", a);
  return "";
}

}  // namespace

// ---------------------------------------------------------------- GgufValue

std::string_view gguf_type_name(GgufType type) {
  static constexpr std::string_view kNames[] = {"u8",   "i8",     "u16",   "i16", "u32", "i32", "f32",
                                                "bool", "string", "array", "u64", "i64", "f64"};
  const auto i = static_cast<uint32_t>(type);
  return i < std::size(kNames) ? kNames[i] : std::string_view("invalid");
}

GgufValue GgufValue::scalar(GgufType type, const void* bytes) {
  GgufValue v(type);
  v.bytes_.assign(static_cast<const char*>(bytes), static_cast<size_t>(scalar_bytes(static_cast<uint32_t>(type))));
  return v;
}

GgufValue GgufValue::u8(uint8_t v) { return scalar(GgufType::U8, &v); }
GgufValue GgufValue::i8(int8_t v) { return scalar(GgufType::I8, &v); }
GgufValue GgufValue::u16(uint16_t v) { return scalar(GgufType::U16, &v); }
GgufValue GgufValue::i16(int16_t v) { return scalar(GgufType::I16, &v); }
GgufValue GgufValue::u32(uint32_t v) { return scalar(GgufType::U32, &v); }
GgufValue GgufValue::i32(int32_t v) { return scalar(GgufType::I32, &v); }
GgufValue GgufValue::f32(float v) { return scalar(GgufType::F32, &v); }
GgufValue GgufValue::u64(uint64_t v) { return scalar(GgufType::U64, &v); }
GgufValue GgufValue::i64(int64_t v) { return scalar(GgufType::I64, &v); }
GgufValue GgufValue::f64(double v) { return scalar(GgufType::F64, &v); }
GgufValue GgufValue::boolean(bool v) {
  const uint8_t byte = v ? 1 : 0;
  return scalar(GgufType::BOOL, &byte);
}

GgufValue GgufValue::string(std::string v) {
  GgufValue out(GgufType::STRING);
  out.strings_.push_back(std::move(v));
  return out;
}

GgufValue GgufValue::string_array(std::vector<std::string> items) {
  GgufValue out(GgufType::ARRAY);
  out.element_type_ = GgufType::STRING;
  out.count_ = items.size();
  out.strings_ = std::move(items);
  return out;
}

GgufValue GgufValue::f32_array(const std::vector<float>& items) {
  GgufValue out(GgufType::ARRAY);
  out.element_type_ = GgufType::F32;
  out.count_ = items.size();
  out.bytes_.assign(reinterpret_cast<const char*>(items.data()), items.size() * sizeof(float));
  return out;
}

GgufValue GgufValue::i32_array(const std::vector<int32_t>& items) {
  GgufValue out(GgufType::ARRAY);
  out.element_type_ = GgufType::I32;
  out.count_ = items.size();
  out.bytes_.assign(reinterpret_cast<const char*>(items.data()), items.size() * sizeof(int32_t));
  return out;
}

GgufValue GgufValue::array(GgufType element_type, const std::vector<GgufValue>& elements) {
  SLMKIT_CHECK(scalar_bytes(static_cast<uint32_t>(element_type)) >= 0, "GGUF array: invalid element type ",
               static_cast<uint32_t>(element_type));
  GgufValue out(GgufType::ARRAY);
  out.element_type_ = element_type;
  out.count_ = elements.size();
  for (size_t i = 0; i < elements.size(); ++i) {
    const GgufValue& e = elements[i];
    SLMKIT_CHECK(e.type_ == element_type, "GGUF array of ", gguf_type_name(element_type), ": element ", i,
                 " is a ", gguf_type_name(e.type_), "; array elements all have one type");
    if (element_type == GgufType::STRING)
      out.strings_.push_back(e.strings_[0]);
    else if (element_type == GgufType::ARRAY)
      out.arrays_.push_back(e);
    else
      out.bytes_ += e.bytes_;
  }
  return out;
}

uint64_t GgufValue::as_uint() const {
  SLMKIT_CHECK(is_integer(type_), "expected an integer, found ", gguf_type_name(type_));
  const uint64_t bits = load_bits(type_, bytes_.data());
  SLMKIT_CHECK(!is_signed(type_) || static_cast<int64_t>(bits) >= 0, "expected a non-negative integer, found ",
               static_cast<int64_t>(bits));
  return bits;
}

int64_t GgufValue::as_int() const {
  SLMKIT_CHECK(is_integer(type_), "expected an integer, found ", gguf_type_name(type_));
  const uint64_t bits = load_bits(type_, bytes_.data());
  SLMKIT_CHECK(is_signed(type_) || bits <= kMaxInt64, "expected an integer below 2^63, found ", bits);
  return static_cast<int64_t>(bits);
}

double GgufValue::as_float() const {
  if (type_ == GgufType::F32) {
    float f;
    std::memcpy(&f, bytes_.data(), 4);
    return f;
  }
  SLMKIT_CHECK(type_ == GgufType::F64, "expected f32 or f64, found ", gguf_type_name(type_));
  double d;
  std::memcpy(&d, bytes_.data(), 8);
  return d;
}

bool GgufValue::as_bool() const {
  SLMKIT_CHECK(type_ == GgufType::BOOL, "expected bool, found ", gguf_type_name(type_));
  return bytes_[0] != 0;
}

const std::string& GgufValue::as_string() const {
  SLMKIT_CHECK(type_ == GgufType::STRING, "expected string, found ", gguf_type_name(type_));
  return strings_[0];
}

GgufValue GgufValue::element(uint64_t i) const {
  SLMKIT_CHECK(type_ == GgufType::ARRAY, "expected array, found ", gguf_type_name(type_));
  SLMKIT_CHECK(i < count_, "array index ", i, " out of range (", count_, " elements)");
  if (element_type_ == GgufType::STRING) return string(strings_[i]);
  if (element_type_ == GgufType::ARRAY) return arrays_[i];
  const auto n = static_cast<size_t>(scalar_bytes(static_cast<uint32_t>(element_type_)));
  return scalar(element_type_, bytes_.data() + i * n);
}

const std::vector<std::string>& GgufValue::strings() const {
  SLMKIT_CHECK(type_ == GgufType::ARRAY && element_type_ == GgufType::STRING, "expected array of string, found ",
               gguf_type_name(type_), type_ == GgufType::ARRAY ? cat(" of ", gguf_type_name(element_type_)) : "");
  return strings_;
}

void GgufValue::encode(std::string& out) const {
  switch (type_) {
    case GgufType::STRING: append_string(out, strings_[0]); return;
    case GgufType::ARRAY:
      append_u32(out, static_cast<uint32_t>(element_type_));
      append_u64(out, count_);
      if (element_type_ == GgufType::STRING) {
        for (const std::string& s : strings_) append_string(out, s);
      } else if (element_type_ == GgufType::ARRAY) {
        for (const GgufValue& a : arrays_) a.encode(out);
      } else {
        out += bytes_;
      }
      return;
    default: out += bytes_; return;
  }
}

std::string GgufValue::summary(size_t max_elements, size_t max_chars) const {
  switch (type_) {
    case GgufType::STRING: return quoted(strings_[0], max_chars);
    case GgufType::BOOL: return as_bool() ? "true" : "false";
    case GgufType::F32:
    case GgufType::F64: {
      char buf[32];
      std::snprintf(buf, sizeof(buf), "%.9g", as_float());
      return buf;
    }
    case GgufType::ARRAY: {
      std::string out = cat("[", gguf_type_name(element_type_), " × ", count_);
      for (uint64_t i = 0; i < count_ && i < max_elements; ++i)
        out += (i == 0 ? ": " : ", ") + element(i).summary(max_elements, max_chars);
      return out + (count_ > max_elements ? ", ...]" : "]");
    }
    default:
      return is_signed(type_) ? std::to_string(as_int()) : std::to_string(as_uint());
  }
}

bool GgufValue::operator==(const GgufValue& other) const {
  return type_ == other.type_ && element_type_ == other.element_type_ && count_ == other.count_ &&
         bytes_ == other.bytes_ && strings_ == other.strings_ && arrays_ == other.arrays_;
}

// ---------------------------------------------------------------- GgufTensor, GgufFile

int64_t GgufTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : ne) n *= d;
  return n;
}

std::vector<int64_t> GgufTensor::torch_shape() const { return {ne.rbegin(), ne.rend()}; }

const GgufValue* GgufFile::find(std::string_view key) const {
  for (const GgufKeyValue& kv : metadata)
    if (kv.key == key) return &kv.value;
  return nullptr;
}

const GgufTensor* GgufFile::find_tensor(std::string_view name) const {
  for (const GgufTensor& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

const GgufValue& GgufFile::get(std::string_view key) const {
  const GgufValue* v = find(key);
  SLMKIT_CHECK(v != nullptr, path, ": missing metadata key \"", key, "\"");
  return *v;
}

namespace {
// Runs a typed accessor, prefixing its error with the file and key.
template <typename Fn>
auto typed(const GgufFile& f, std::string_view key, Fn&& fn) -> decltype(fn(f.get(key))) {
  const GgufValue& v = f.get(key);
  try {
    return fn(v);
  } catch (const Error& e) {
    throw Error(cat(f.path, ": metadata key \"", key, "\": ", e.what()));
  }
}
}  // namespace

std::string GgufFile::get_string(std::string_view key) const {
  return typed(*this, key, [](const GgufValue& v) { return v.as_string(); });
}
uint64_t GgufFile::get_uint(std::string_view key) const {
  return typed(*this, key, [](const GgufValue& v) { return v.as_uint(); });
}
double GgufFile::get_float(std::string_view key) const {
  return typed(*this, key, [](const GgufValue& v) { return v.as_float(); });
}
bool GgufFile::get_bool(std::string_view key) const {
  return typed(*this, key, [](const GgufValue& v) { return v.as_bool(); });
}
const std::vector<std::string>& GgufFile::get_strings(std::string_view key) const {
  return typed(*this, key, [](const GgufValue& v) -> const std::vector<std::string>& { return v.strings(); });
}

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

// ---------------------------------------------------------------- writer

void write_gguf(const std::string& path, const std::vector<GgufKeyValue>& metadata,
                const std::vector<GgufTensor>& tensors) {
  uint64_t alignment = kDefaultAlignment;
  std::unordered_set<std::string> seen;
  for (const GgufKeyValue& kv : metadata) {
    const std::string problem = key_problem(kv.key);
    SLMKIT_CHECK(problem.empty(), path, ": metadata key ", quoted(kv.key), ": ", problem);
    SLMKIT_CHECK(seen.insert(kv.key).second, path, ": duplicate metadata key ", quoted(kv.key));
    if (kv.key == kAlignmentKey) {
      const std::string bad = alignment_problem(kv.value, GgufLimits{}.max_alignment);
      SLMKIT_CHECK(bad.empty(), path, ": metadata key \"", kAlignmentKey, "\": ", bad);
      alignment = kv.value.as_uint();
    }
  }

  std::string head = "GGUF";
  append_u32(head, kCurrentVersion);
  append_u64(head, tensors.size());
  append_u64(head, metadata.size());
  for (const GgufKeyValue& kv : metadata) {
    append_string(head, kv.key);
    append_u32(head, static_cast<uint32_t>(kv.value.type()));
    kv.value.encode(head);
  }

  seen.clear();
  uint64_t offset = 0;
  for (const GgufTensor& t : tensors) {
    const std::string where = cat(path, ": tensor ", quoted(t.name));
    const std::string problem = tensor_name_problem(t.name);
    SLMKIT_CHECK(problem.empty(), where, ": ", problem);
    SLMKIT_CHECK(seen.insert(t.name).second, where, ": duplicate tensor name");
    SLMKIT_CHECK(t.ne.size() <= kGgmlMaxDims, where, ": ", t.ne.size(), " dims; ggml allows at most ", kGgmlMaxDims);
    int64_t rows = 1;
    for (size_t d = 1; d < t.ne.size(); ++d) {
      SLMKIT_CHECK(t.ne[d] >= 0 && !__builtin_mul_overflow(rows, t.ne[d], &rows), where, ": invalid dims");
    }
    const GgmlTypeInfo& info = ggml_type_info(t.type);
    const int64_t row = t.ne.empty() ? 1 : t.ne[0];
    SLMKIT_CHECK(row >= 0 && row % info.block_size == 0, where, ": type ", info.name,
                 " needs rows (ne[0]) that are a multiple of ", info.block_size, ", found ", row);
    const size_t row_bytes = ggml_row_bytes(t.type, row);
    uint64_t expected = 0;
    SLMKIT_CHECK(!__builtin_mul_overflow(row_bytes, static_cast<uint64_t>(rows), &expected), where,
                 ": byte size overflows");
    SLMKIT_CHECK(t.nbytes == expected, where, ": ", t.nbytes, " bytes given, but ", ggml_type_name(t.type),
                 " with ne ", shape_text(t.ne), " takes ", expected);
    SLMKIT_CHECK(t.data != nullptr || t.nbytes == 0, where, ": no data");
    append_string(head, t.name);
    append_u32(head, static_cast<uint32_t>(t.ne.size()));
    for (int64_t ne : t.ne) append_u64(head, static_cast<uint64_t>(ne));
    append_u32(head, static_cast<uint32_t>(t.type));
    append_u64(head, offset);
    offset = align_up(offset + t.nbytes, alignment);
  }
  if (!tensors.empty()) head.resize(align_up(head.size(), alignment), '\0');

  AtomicFile out(path);
  out.write(head);
  const std::string zeros(alignment, '\0');
  for (const GgufTensor& t : tensors) {
    out.write(t.data, t.nbytes);
    out.write(zeros.data(), align_up(t.nbytes, alignment) - t.nbytes);
  }
  out.commit();
}

}  // namespace slmkit
