#include "io/gguf.h"

// GGUF metadata values, tensor infos and typed lookups. The reader is
// gguf_reader.cpp, the writer gguf_writer.cpp, the shared rules gguf_rules.h.

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <limits>
#include <unordered_set>

#include "core/error.h"
#include "io/gguf_rules.h"

namespace slmkit {

using namespace gguf_detail;

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

}  // namespace slmkit
