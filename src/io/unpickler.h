// An allow-list unpickler for the `data.pkl` inside PyTorch checkpoints.
//
// It is a data-only pickle VM: it builds a small value tree and never calls,
// imports or instantiates anything. Opcodes are limited to those pickle
// protocol 2 (and 4, for `torch.save(..., pickle_protocol=4)`) emits for state
// dicts; globals are limited to collections.OrderedDict,
// torch._utils._rebuild_tensor_v2 / _rebuild_parameter and the typed
// torch.*Storage classes. Any other global (os.system, builtins.eval, ...) is
// refused when the GLOBAL/STACK_GLOBAL opcode is read, before any REDUCE.
// REDUCE only "applies" the allow-listed callables symbolically (an empty
// OrderedDict, a tensor description). Every read is bounds-checked and the VM
// has caps (memo, stack, MARK nesting, string length, container size, value
// count) so hostile input fails with an Error instead of exhausting memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "core/dtype.h"
#include "core/limits.h"

namespace slmkit::pickle {

// The pickle section of the one Limits struct (core/limits.h).
using Limits = ::slmkit::Limits::Pickle;

// The allow-listed globals.
enum class Global : uint8_t { OrderedDict, RebuildTensorV2, RebuildParameter, StorageType };

struct Value;

// A `('storage', torch.XStorage, key, location, numel)` persistent id.
struct StorageRef {
  DType dtype = DType::U8;
  std::string key;       // record name under `<prefix>data/`
  std::string location;  // e.g. "cpu", "cuda:0"; informational only
  int64_t numel = 0;     // elements of `dtype`
};

// The arguments of `_rebuild_tensor_v2`, validated for type but not yet for
// bounds against the storage record (that needs the archive).
struct TensorRef {
  const Value* storage = nullptr;  // kind == Storage
  int64_t storage_offset = 0;      // in elements
  std::vector<int64_t> size;
  std::vector<int64_t> stride;     // in elements
  bool requires_grad = false;
};

struct Value {
  enum class Kind : uint8_t {
    None, Bool, Int, Float, String, Tuple, List, Dict, Global, Storage, Tensor
  };
  Kind kind = Kind::None;
  bool boolean = false;
  int64_t integer = 0;
  double real = 0.0;
  std::string text;                 // String: UTF-8 text; Global: "module.name"
  std::vector<const Value*> items;  // Tuple, List
  std::vector<std::pair<const Value*, const Value*>> entries;  // Dict, insertion order
  bool ordered = false;             // Dict made by collections.OrderedDict
  Global global = Global::OrderedDict;  // Global
  DType storage_dtype = DType::U8;      // Global == StorageType
  StorageRef storage;               // Storage
  TensorRef tensor;                 // Tensor
};

const char* kind_name(Value::Kind kind);

// The result: a root value and the arena that owns every value (values may be
// shared through the memo, e.g. the same key string or storage twice).
class PickleTree {
 public:
  const Value& root() const { return *root_; }

 private:
  friend class Machine;
  std::deque<Value> arena_;  // deque: stable addresses as it grows
  const Value* root_ = nullptr;
};

// Runs the VM over `bytes`. `file` and `stream` (e.g. "m.pt", "archive/data.pkl")
// name the input in error messages, which also give the byte offset of the
// offending opcode. Throws slmkit::Error on anything not allow-listed, malformed
// or over a limit; the stream must end exactly after STOP with one value left.
PickleTree unpickle(const uint8_t* bytes, size_t size, const std::string& file,
                    const std::string& stream, const Limits& limits = Limits{});

}  // namespace slmkit::pickle
