// Reading one .safetensors file (memory-mapped) and writing one atomically.
#include "io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <tuple>
#include <vector>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/mapped_file.h"
#include "io/safetensors_format.h"

namespace slmkit {
namespace {

namespace stf = safetensors_format;

// Old writers did not pad the header, so a tensor may start at an address that
// is not a multiple of its element size; typed loads from it would be
// undefined behaviour, so such a tensor gets its own (new-aligned) copy.
TensorView view_of(const stf::TensorEntry& entry, const uint8_t* data_start,
                   const std::shared_ptr<const MappedFile>& file) {
  TensorView view;
  view.dtype = entry.dtype;
  view.shape = entry.shape;
  const uint8_t* bytes = data_start + entry.begin;
  const size_t nbytes = static_cast<size_t>(entry.end - entry.begin);
  if (reinterpret_cast<uintptr_t>(bytes) % dtype_size(entry.dtype) == 0) {
    view.data = bytes;
    view.owner = file;
  } else {
    auto aligned_copy = std::make_shared<std::vector<uint8_t>>(bytes, bytes + nbytes);
    view.data = aligned_copy->data();
    view.owner = std::move(aligned_copy);
  }
  return view;
}

// JSON string literal for `text`; invalid UTF-8 becomes an Error naming `what`.
std::string json_string(const std::string& text, const std::string& what) {
  try {
    return nlohmann::json(text).dump();
  } catch (const nlohmann::json::exception&) {
    throw Error(cat(what, " is not valid UTF-8; safetensors headers are UTF-8 JSON"));
  }
}

struct PlannedTensor {
  const std::string* name;
  const TensorView* view;
  uint64_t nbytes;
};

// Checks one tensor can be written and read back by the strict reader.
uint64_t checked_nbytes(const std::string& path, const std::string& name, const TensorView& v) {
  const std::string where = cat(path, ": cannot write tensor \"", name, "\"");
  SLMKIT_CHECK(name != "__metadata__", where, ": the name \"__metadata__\" is reserved for the ",
               "file's metadata; rename the tensor");
  constexpr uint64_t kLimit = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  uint64_t numel = 1;
  for (int64_t dim : v.shape) {
    SLMKIT_CHECK(dim >= 0 && static_cast<uint64_t>(dim) <= stf::kMaxJsonInteger, where, ": shape ",
                 shape_str(v.shape), " has a dimension outside [0, 2^48-1]");
    const bool overflow = __builtin_mul_overflow(numel, static_cast<uint64_t>(dim), &numel);
    SLMKIT_CHECK(!overflow && numel <= kLimit, where, ": shape ", shape_str(v.shape),
                 " overflows the element count");
  }
  uint64_t nbytes = 0;
  const bool overflow = __builtin_mul_overflow(numel, uint64_t{dtype_size(v.dtype)}, &nbytes);
  SLMKIT_CHECK(!overflow && nbytes <= stf::kMaxJsonInteger, where, ": ", nbytes,
               " bytes is more than safetensors offsets can address (2^48-1)");
  SLMKIT_CHECK(v.data != nullptr || nbytes == 0, where, ": it has shape ", shape_str(v.shape),
               " but no data");
  return nbytes;
}

// The header JSON exactly as the reference writer (serde_json) emits it:
// compact, `__metadata__` first, then tensors in offset order, padded to 8.
std::string build_header(const std::string& path, const std::vector<PlannedTensor>& tensors,
                         const std::map<std::string, std::string>& metadata) {
  std::string header = "{";
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [key, value] : metadata) {
      if (!first) header += ',';
      first = false;
      header += json_string(key, cat(path, ": metadata key \"", key, "\""));
      header += ':';
      header += json_string(value, cat(path, ": metadata value of \"", key, "\""));
    }
    header += '}';
  }
  uint64_t offset = 0;
  for (const PlannedTensor& t : tensors) {
    if (header.size() > 1) header += ',';
    header += json_string(*t.name, cat(path, ": tensor name \"", *t.name, "\""));
    header += ":{\"dtype\":\"";
    header += dtype_name(t.view->dtype);
    header += "\",\"shape\":[";
    for (size_t i = 0; i < t.view->shape.size(); ++i) {
      if (i > 0) header += ',';
      header += std::to_string(t.view->shape[i]);
    }
    header += cat("],\"data_offsets\":[", offset, ",", offset + t.nbytes, "]}");
    offset += t.nbytes;
    SLMKIT_CHECK(offset <= stf::kMaxJsonInteger, path, ": total tensor data exceeds 2^48-1 ",
                 "bytes, more than safetensors offsets can address; write several shards");
  }
  header += '}';
  // Padding keeps the data section, and with it every tensor, 8-byte aligned.
  header.append((8 - header.size() % 8) % 8, ' ');
  return header;
}

}  // namespace

TensorSet read_safetensors(const std::string& path, const Limits& limits) {
  return read_safetensors(MappedFile::open(path), limits);
}

TensorSet read_safetensors(std::shared_ptr<const MappedFile> file, const Limits& limits) {
  const std::string& path = file->path();
  stf::Header header = stf::parse_header(file->data(), file->size(), path, limits);
  const uint8_t* data_start = file->data() + stf::kLengthPrefixBytes + header.header_bytes;

  TensorSet set;
  set.metadata = std::move(header.metadata);
  for (const stf::TensorEntry& entry : header.tensors) {
    const bool inserted = set.tensors.emplace(entry.name, view_of(entry, data_start, file)).second;
    SLMKIT_ASSERT(inserted, "duplicate tensor \"", entry.name, "\" passed the strict JSON parser");
  }
  return set;
}

void write_safetensors(const std::string& path, const std::map<std::string, TensorView>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<PlannedTensor> planned;
  planned.reserve(tensors.size());
  for (const auto& [name, view] : tensors)
    planned.push_back({&name, &view, checked_nbytes(path, name, view)});
  // Most-aligned dtypes first: with an 8-aligned data start, every tensor then
  // lands on a multiple of its element size.
  std::sort(planned.begin(), planned.end(), [](const PlannedTensor& a, const PlannedTensor& b) {
    const int rank_a = stf::alignment_rank(a.view->dtype);
    const int rank_b = stf::alignment_rank(b.view->dtype);
    return std::tie(rank_b, *a.name) < std::tie(rank_a, *b.name);
  });

  const std::string header = build_header(path, planned, metadata);
  SLMKIT_CHECK(header.size() <= stf::kMaxHeaderBytes, path, ": cannot write: the header would be ",
               header.size(), " bytes, more than the format's limit of ", stf::kMaxHeaderBytes,
               " (readers refuse it); shorten the metadata or split the tensors into shards");

  uint8_t length_prefix[stf::kLengthPrefixBytes];
  for (size_t i = 0; i < stf::kLengthPrefixBytes; ++i)
    length_prefix[i] = static_cast<uint8_t>(static_cast<uint64_t>(header.size()) >> (8 * i));

  AtomicFile out(path);
  out.write(length_prefix, sizeof(length_prefix));
  out.write(header);
  for (const PlannedTensor& t : planned) out.write(t.view->data, static_cast<size_t>(t.nbytes));
  out.commit();
}

}  // namespace slmkit
