#include "io/torch_checkpoint.h"

#include <cstring>
#include <map>
#include <memory>
#include <string_view>
#include <vector>

#include "core/checked_size.h"
#include "core/error.h"
#include "io/mapped_file.h"
#include "io/unpickler.h"
#include "io/zip_archive.h"

namespace slmkit {
namespace {

using pickle::Value;

// One storage record, resolved once and shared by every tensor that names its
// key (tied weights): bytes live in the mapping unless they had to be copied
// for alignment.
struct Storage {
  DType dtype = DType::U8;
  int64_t numel = 0;
  const uint8_t* data = nullptr;
  std::shared_ptr<const void> owner;
};

// We never extract, but a name that would escape a directory marks a crafted file.
bool is_safe_entry_name(std::string_view name) {
  if (name.empty() || name.front() == '/') return false;
  if (name.find('\\') != std::string_view::npos || name.find('\0') != std::string_view::npos) {
    return false;
  }
  size_t begin = 0;
  while (begin <= name.size()) {
    size_t end = name.find('/', begin);
    if (end == std::string_view::npos) end = name.size();
    if (name.substr(begin, end - begin) == "..") return false;
    begin = end + 1;
  }
  return true;
}

// The single top-level directory every record lives under ("archive/", or the
// file stem for torch.save).
std::string find_record_prefix(const ZipArchive& zip) {
  const std::string& path = zip.path();
  SLMKIT_CHECK(!zip.entries().empty(), path, ": malformed torch archive: the zip has no entries");
  std::string prefix;
  for (const ZipEntry& e : zip.entries()) {
    SLMKIT_CHECK(is_safe_entry_name(e.name), path, ": malformed torch archive: unsafe entry name '",
                 e.name, "'");
    const size_t slash = e.name.find('/');
    SLMKIT_CHECK(slash != std::string::npos && slash > 0, path,
                 ": malformed torch archive: entry '", e.name, "' is not inside a top-level directory");
    const std::string top = e.name.substr(0, slash + 1);
    if (prefix.empty()) prefix = top;
    SLMKIT_CHECK(top == prefix, path, ": malformed torch archive: entries under more than one "
                 "top-level directory ('", prefix, "' and '", top, "')");
  }
  return prefix;
}

const ZipEntry& require_entry(const ZipArchive& zip, const std::string& name, const char* why) {
  const ZipEntry* e = zip.find(name);
  SLMKIT_CHECK(e != nullptr, zip.path(), ": malformed torch archive: no '", name, "' record (", why, ")");
  return *e;
}

void check_version_and_byteorder(const ZipArchive& zip, const std::string& prefix) {
  const std::string& path = zip.path();
  const ZipEntry* version = zip.find(prefix + "version");
  if (version == nullptr) version = zip.find(prefix + ".data/version");
  SLMKIT_CHECK(version != nullptr, path, ": malformed torch archive: no '", prefix,
               "version' record (not a torch.save file?)");
  zip.verify_crc32(*version);
  std::string_view text = zip.data(*version).as_string_view();
  if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  const bool decimal = !text.empty() && text.size() <= 8 &&
                       text.find_first_not_of("0123456789") == std::string_view::npos;
  SLMKIT_CHECK(decimal, path, ": malformed torch archive: '", version->name,
               "' should hold a decimal format version, found ", text.size(), " other bytes");

  // torch >= 2.0 records the writer's byte order; storages are raw host bytes.
  if (const ZipEntry* order = zip.find(prefix + "byteorder")) {
    zip.verify_crc32(*order);
    const std::string_view found = zip.data(*order).as_string_view();
    SLMKIT_CHECK(found == "little", path, ": '", order->name, "' says '",
                 found.substr(0, 16), "', expected 'little'; big-endian checkpoints are not "
                 "supported (re-save on a little-endian machine or convert to safetensors)");
  }
}

class StorageTable {
 public:
  StorageTable(const ZipArchive& zip, std::string prefix) : zip_(zip), prefix_(std::move(prefix)) {}

  const Storage& get(const pickle::StorageRef& ref) {
    const std::string& path = zip_.path();
    auto it = by_key_.find(ref.key);
    if (it != by_key_.end()) {
      SLMKIT_CHECK(it->second.dtype == ref.dtype && it->second.numel == ref.numel, path,
                   ": storage '", ref.key, "' is referenced as ", dtype_name(ref.dtype), " x ",
                   ref.numel, " and as ", dtype_name(it->second.dtype), " x ", it->second.numel);
      return it->second;
    }
    const std::string record = prefix_ + "data/" + ref.key;
    const ZipEntry* entry = zip_.find(record);
    SLMKIT_CHECK(entry != nullptr, path, ": missing storage record '", record, "'");
    const uint64_t elem_bytes = dtype_size(ref.dtype);
    const uint64_t expected =
        checked_mul(static_cast<uint64_t>(ref.numel), elem_bytes, cat(path, ": storage '", ref.key, "' size"));
    SLMKIT_CHECK(expected == entry->size_bytes, path, ": storage '", ref.key, "' (record '", record,
                 "') should hold ", ref.numel, " ", dtype_name(ref.dtype), " elements = ", expected,
                 " bytes, but the record has ", entry->size_bytes, " bytes");
    zip_.verify_crc32(*entry);

    Storage s;
    s.dtype = ref.dtype;
    s.numel = ref.numel;
    const ByteSpan bytes = zip_.data(*entry);
    if (reinterpret_cast<uintptr_t>(bytes.data) % elem_bytes == 0) {
      s.data = bytes.data;
      s.owner = zip_.file();  // the mapping stays alive while any view does
    } else {
      // torch aligns records to 64 bytes; other writers may not. Copy once so
      // consumers can load elements with aligned accesses.
      auto copy = std::make_shared<std::vector<uint8_t>>(bytes.data, bytes.data + bytes.size);
      s.data = copy->data();
      s.owner = copy;
    }
    return by_key_.emplace(ref.key, std::move(s)).first->second;
  }

 private:
  const ZipArchive& zip_;
  std::string prefix_;
  std::map<std::string, Storage> by_key_;
};

// Builds the TensorView for one `_rebuild_tensor_v2` description: a view into
// the storage when it is contiguous row-major, else a contiguous copy.
TensorView make_view(const std::string& path, const std::string& name,
                     const pickle::TensorRef& ref, const Storage& storage, const Limits& limits) {
  const std::string what = cat(path, ": tensor '", name, "'");
  const size_t dims = ref.size.size();
  const uint64_t elem_bytes = dtype_size(storage.dtype);
  // Bounded by INT64_MAX even when a dim is 0: TensorView::numel() multiplies in int64.
  const uint64_t numel = checked_numel(ref.size, what);

  TensorView view;
  view.dtype = storage.dtype;
  view.shape = ref.size;
  view.owner = storage.owner;
  if (numel == 0) {
    view.data = storage.data;
    return view;
  }
  // Highest element index the view touches must lie inside the storage.
  uint64_t last_index = static_cast<uint64_t>(ref.storage_offset);
  for (size_t i = 0; i < dims; ++i) {
    const uint64_t span = checked_mul(static_cast<uint64_t>(ref.size[i] - 1),
                                      static_cast<uint64_t>(ref.stride[i]), what + " extent");
    last_index = checked_add(last_index, span, what + " extent");
  }
  SLMKIT_CHECK(last_index < static_cast<uint64_t>(storage.numel), what, " view exceeds its storage: "
               "storage_offset ", ref.storage_offset, ", size ", shape_str(ref.size), ", stride ",
               shape_str(ref.stride), " reach element ", last_index, " but the storage has ",
               storage.numel, " elements");

  bool contiguous = true;
  uint64_t expected_stride = 1;
  for (size_t i = dims; i-- > 0;) {
    if (ref.size[i] != 1 && static_cast<uint64_t>(ref.stride[i]) != expected_stride) contiguous = false;
    expected_stride *= static_cast<uint64_t>(ref.size[i]);  // <= numel: no overflow
  }
  const uint8_t* base = storage.data + static_cast<uint64_t>(ref.storage_offset) * elem_bytes;
  if (contiguous) {
    view.data = base;
    return view;
  }
  // Non-contiguous (transposed, strided, expanded): gather in row-major order. A
  // stride-0 (expanded) view can be far larger than its storage, so the copy is
  // bounded before it is made.
  const uint64_t copy_bytes = checked_nbytes(numel, elem_bytes, what);
  check_alloc(copy_bytes, limits.alloc_bytes, what + " (a non-contiguous view, copied)");
  auto copy = std::make_shared<std::vector<uint8_t>>(static_cast<size_t>(copy_bytes));
  std::vector<int64_t> index(dims, 0);
  uint8_t* out = copy->data();
  for (uint64_t n = 0; n < numel; ++n) {
    uint64_t element = 0;
    for (size_t i = 0; i < dims; ++i) element += static_cast<uint64_t>(index[i] * ref.stride[i]);
    std::memcpy(out, base + element * elem_bytes, elem_bytes);
    out += elem_bytes;
    for (size_t i = dims; i-- > 0;) {  // odometer increment, last dim fastest
      if (++index[i] < ref.size[i]) break;
      index[i] = 0;
    }
  }
  view.data = copy->data();
  view.owner = copy;
  return view;
}

const Value* find_string_key(const Value& dict, std::string_view key) {
  for (const auto& [k, v] : dict.entries) {
    if (k->kind == Value::Kind::String && k->text == key) return v;
  }
  return nullptr;
}

bool all_values_are_tensors(const Value& dict) {
  for (const auto& kv : dict.entries) {
    if (kv.second->kind != Value::Kind::Tensor) return false;
  }
  return true;
}

// The state dict itself, or the one inside a {"state_dict": ...} / {"model": ...}
// training checkpoint (one level only; other entries of the wrapper are ignored).
const Value& select_state_dict(const std::string& path, const Value& root) {
  SLMKIT_CHECK(root.kind == Value::Kind::Dict, path, ": data.pkl holds a value of type ",
               pickle::kind_name(root.kind), ", expected a state dict (a dict of tensors)");
  if (all_values_are_tensors(root)) return root;
  for (const char* wrapper : {"state_dict", "model"}) {
    const Value* inner = find_string_key(root, wrapper);
    if (inner != nullptr && inner->kind == Value::Kind::Dict && all_values_are_tensors(*inner)) {
      return *inner;
    }
  }
  for (const auto& [k, v] : root.entries) {
    if (v->kind != Value::Kind::Tensor) {
      const std::string key = k->kind == Value::Kind::String ? k->text : pickle::kind_name(k->kind);
      throw Error(cat(path, ": entry '", key, "' of the checkpoint has type ",
                      pickle::kind_name(v->kind), ", not a tensor; expected a state dict of tensors (or one under 'state_dict' "
                      "or 'model')"));
    }
  }
  SLMKIT_ASSERT(false, "a dict whose values are all tensors was rejected");
  return root;
}

}  // namespace

TensorSet read_torch_checkpoint(const std::string& path, const Limits& limits) {
  return read_torch_checkpoint(MappedFile::open(path), limits);
}

TensorSet read_torch_checkpoint(std::shared_ptr<const MappedFile> file, const Limits& limits) {
  const std::string& path = file->path();
  // Pre-1.6 torch.save wrote a bare pickle (starts with PROTO) or a tar archive.
  const bool bare_pickle = file->size() >= 2 && file->data()[0] == 0x80 && file->data()[1] <= 5;
  const bool tar = file->size() >= 262 && std::memcmp(file->data() + 257, "ustar", 5) == 0;
  SLMKIT_CHECK(!bare_pickle && !tar, path, ": legacy (pre-1.6, non-zip) torch serialization is not "
               "supported; re-save it with torch.save (zip format) in a trusted environment or "
               "convert it to safetensors");

  const ZipArchive zip(file, limits);
  const std::string prefix = find_record_prefix(zip);
  const ZipEntry& pkl = require_entry(zip, prefix + "data.pkl", "the pickled state dict");
  check_version_and_byteorder(zip, prefix);
  zip.verify_crc32(pkl);
  const ByteSpan pkl_bytes = zip.data(pkl);
  const pickle::PickleTree tree =
      pickle::unpickle(pkl_bytes.data, pkl_bytes.size, path, pkl.name, limits.pickle);
  const Value& state_dict = select_state_dict(path, tree.root());

  StorageTable storages(zip, prefix);
  TensorSet out;
  for (const auto& [key, value] : state_dict.entries) {
    SLMKIT_CHECK(key->kind == Value::Kind::String, path, ": state dict key is a ",
                 pickle::kind_name(key->kind), ", expected a string");
    const pickle::TensorRef& ref = value->tensor;
    SLMKIT_ASSERT(ref.storage != nullptr && ref.storage->kind == Value::Kind::Storage);
    const Storage& storage = storages.get(ref.storage->storage);
    TensorView view = make_view(path, key->text, ref, storage, limits);
    SLMKIT_CHECK(out.tensors.emplace(key->text, std::move(view)).second, path,
                 ": state dict key '", key->text, "' appears twice");
  }
  return out;
}

}  // namespace slmkit
