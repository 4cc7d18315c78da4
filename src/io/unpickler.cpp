#include "io/unpickler.h"

#include <cstring>
#include <optional>
#include <string_view>
#include <unordered_map>

#include "core/error.h"

namespace slmkit::pickle {
namespace {

// Opcode bytes (CPython Lib/pickletools.py names).
enum Op : uint8_t {
  MARK = '(', STOP = '.', BINFLOAT = 'G', BININT = 'J', BININT1 = 'K', BININT2 = 'M',
  NONE = 'N', BINPERSID = 'Q', REDUCE = 'R', BINUNICODE = 'X', APPEND = 'a', BUILD = 'b',
  GLOBAL = 'c', APPENDS = 'e', BINGET = 'h', LONG_BINGET = 'j', BINPUT = 'q', LONG_BINPUT = 'r',
  SETITEM = 's', TUPLE = 't', SETITEMS = 'u', EMPTY_DICT = '}', EMPTY_LIST = ']',
  EMPTY_TUPLE = ')', PROTO = 0x80, TUPLE1 = 0x85, TUPLE2 = 0x86, TUPLE3 = 0x87, NEWTRUE = 0x88,
  NEWFALSE = 0x89, LONG1 = 0x8a, SHORT_BINUNICODE = 0x8c, BINUNICODE8 = 0x8d,
  STACK_GLOBAL = 0x93, MEMOIZE = 0x94, FRAME = 0x95,
};

// Names for error messages, including opcodes we deliberately refuse.
const char* op_name(uint8_t op) {
  switch (op) {
    case MARK: return "MARK"; case STOP: return "STOP"; case BINFLOAT: return "BINFLOAT";
    case BININT: return "BININT"; case BININT1: return "BININT1"; case BININT2: return "BININT2";
    case NONE: return "NONE"; case BINPERSID: return "BINPERSID"; case REDUCE: return "REDUCE";
    case BINUNICODE: return "BINUNICODE"; case APPEND: return "APPEND"; case BUILD: return "BUILD";
    case GLOBAL: return "GLOBAL"; case APPENDS: return "APPENDS"; case BINGET: return "BINGET";
    case LONG_BINGET: return "LONG_BINGET"; case BINPUT: return "BINPUT";
    case LONG_BINPUT: return "LONG_BINPUT"; case SETITEM: return "SETITEM"; case TUPLE: return "TUPLE";
    case SETITEMS: return "SETITEMS"; case EMPTY_DICT: return "EMPTY_DICT";
    case EMPTY_LIST: return "EMPTY_LIST"; case EMPTY_TUPLE: return "EMPTY_TUPLE";
    case PROTO: return "PROTO"; case TUPLE1: return "TUPLE1"; case TUPLE2: return "TUPLE2";
    case TUPLE3: return "TUPLE3"; case NEWTRUE: return "NEWTRUE"; case NEWFALSE: return "NEWFALSE";
    case LONG1: return "LONG1"; case SHORT_BINUNICODE: return "SHORT_BINUNICODE";
    case BINUNICODE8: return "BINUNICODE8"; case STACK_GLOBAL: return "STACK_GLOBAL";
    case MEMOIZE: return "MEMOIZE"; case FRAME: return "FRAME";
    case 'i': return "INST"; case 'o': return "OBJ"; case 0x81: return "NEWOBJ";
    case 0x92: return "NEWOBJ_EX"; case 0x82: case 0x83: case 0x84: return "EXT";
    case 'P': return "PERSID"; case 'I': return "INT"; case 'L': return "LONG";
    case 0x8b: return "LONG4"; case 'F': return "FLOAT"; case 'S': return "STRING";
    case 'T': return "BINSTRING"; case 'U': return "SHORT_BINSTRING"; case 'V': return "UNICODE";
    case 'B': return "BINBYTES"; case 'C': return "SHORT_BINBYTES"; case 0x8e: return "BINBYTES8";
    case 0x96: return "BYTEARRAY8"; case 0x97: return "NEXT_BUFFER";
    case 0x98: return "READONLY_BUFFER"; case 'd': return "DICT"; case 'l': return "LIST";
    case '0': return "POP"; case '1': return "POP_MARK"; case '2': return "DUP";
    case 'g': return "GET"; case 'p': return "PUT"; case 0x8f: return "EMPTY_SET";
    case 0x90: return "ADDITEMS"; case 0x91: return "FROZENSET";
    default: return "unknown";
  }
}

struct AllowedGlobal {
  const char* module;
  const char* name;
  Global global;
  DType storage_dtype;
};

constexpr AllowedGlobal kAllowedGlobals[] = {
    {"collections", "OrderedDict", Global::OrderedDict, DType::U8},
    {"torch._utils", "_rebuild_tensor_v2", Global::RebuildTensorV2, DType::U8},
    {"torch._utils", "_rebuild_parameter", Global::RebuildParameter, DType::U8},
    {"torch", "FloatStorage", Global::StorageType, DType::F32},
    {"torch", "HalfStorage", Global::StorageType, DType::F16},
    {"torch", "BFloat16Storage", Global::StorageType, DType::BF16},
    {"torch", "DoubleStorage", Global::StorageType, DType::F64},
    {"torch", "LongStorage", Global::StorageType, DType::I64},
    {"torch", "IntStorage", Global::StorageType, DType::I32},
    {"torch", "ShortStorage", Global::StorageType, DType::I16},
    {"torch", "CharStorage", Global::StorageType, DType::I8},
    {"torch", "ByteStorage", Global::StorageType, DType::U8},
    {"torch", "BoolStorage", Global::StorageType, DType::BOOL},
};

// Hostile names go into error messages: escape anything not printable ASCII.
std::string printable(std::string_view s) {
  constexpr size_t kMaxShown = 120;
  std::string out;
  for (size_t i = 0; i < s.size() && i < kMaxShown; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  if (s.size() > kMaxShown) out += "...";
  return out;
}

bool is_valid_utf8(const uint8_t* p, size_t n) {
  size_t i = 0;
  while (i < n) {
    const uint8_t c = p[i];
    if (c < 0x80) { ++i; continue; }
    size_t len = 0;
    uint32_t cp = 0;
    if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; }
    else return false;
    if (n - i < len) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    const uint32_t min_cp = len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
    if (cp < min_cp || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

bool is_hashable_key(const Value& v) {
  switch (v.kind) {
    case Value::Kind::None: case Value::Kind::Bool: case Value::Kind::Int:
    case Value::Kind::Float: case Value::Kind::String: case Value::Kind::Tuple:
      return true;
    default:
      return false;
  }
}

}  // namespace

const char* kind_name(Value::Kind kind) {
  switch (kind) {
    case Value::Kind::None: return "None";
    case Value::Kind::Bool: return "bool";
    case Value::Kind::Int: return "int";
    case Value::Kind::Float: return "float";
    case Value::Kind::String: return "str";
    case Value::Kind::Tuple: return "tuple";
    case Value::Kind::List: return "list";
    case Value::Kind::Dict: return "dict";
    case Value::Kind::Global: return "global";
    case Value::Kind::Storage: return "storage";
    case Value::Kind::Tensor: return "tensor";
  }
  return "?";
}

// The VM. Not in an anonymous namespace because PickleTree befriends it.
class Machine {
 public:
  Machine(const uint8_t* bytes, size_t size, const std::string& file, const std::string& stream,
          const Limits& limits)
      : bytes_(bytes), size_(size), file_(file), stream_(stream), limits_(limits) {}

  PickleTree run();

 private:
  std::string where() const { return cat(file_, ": ", stream_); }
  [[noreturn]] void malformed(const std::string& detail) const {
    throw Error(cat(where(), ": malformed pickle at offset ", op_at_, " (", op_name(op_), "): ",
                    detail));
  }
  [[noreturn]] void over_limit(const char* what, size_t limit) const {
    throw Error(cat(where(), ": pickle ", what, " exceeds the limit of ", limit, " at offset ",
                    op_at_, " (", op_name(op_), "); refusing a possibly hostile file"));
  }

  // Input.
  const uint8_t* take(uint64_t n, const char* what) {
    if (n > size_ - pos_) {
      malformed(cat(what, " needs ", n, " bytes but only ", size_ - pos_,
                    " remain (truncated data.pkl?)"));
    }
    const uint8_t* p = bytes_ + pos_;
    pos_ += static_cast<size_t>(n);
    return p;
  }
  uint64_t read_le(size_t n, const char* what) {
    const uint8_t* p = take(n, what);
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
    return v;
  }
  std::string read_line(const char* what) {
    constexpr size_t kMaxLine = 256;
    for (size_t i = pos_; i < size_ && i - pos_ <= kMaxLine; ++i) {
      if (bytes_[i] == '\n') {
        std::string line(reinterpret_cast<const char*>(bytes_ + pos_), i - pos_);
        pos_ = i + 1;
        return line;
      }
    }
    malformed(cat(what, " is not a newline-terminated line of at most ", kMaxLine, " bytes"));
  }

  // Values and stack.
  Value* make(Value::Kind kind) {
    if (tree_.arena_.size() >= limits_.max_values) over_limit("object count", limits_.max_values);
    tree_.arena_.emplace_back();
    Value* v = &tree_.arena_.back();
    v->kind = kind;
    return v;
  }
  // Values pushed since the innermost MARK; a MARK hides what lies below it.
  size_t frame_size() const { return stack_.size() - (marks_.empty() ? 0 : marks_.back()); }
  void push(Value* v) {
    if (stack_.size() >= limits_.max_stack_values) over_limit("stack depth", limits_.max_stack_values);
    stack_.push_back(v);
  }
  Value* pop() {
    if (frame_size() == 0) malformed("stack underflow (no value above the current MARK)");
    Value* v = stack_.back();
    stack_.pop_back();
    return v;
  }
  Value* top() {
    if (frame_size() == 0) malformed("stack underflow (no value above the current MARK)");
    return stack_.back();
  }
  std::vector<const Value*> pop_to_mark() {
    if (marks_.empty()) malformed("no MARK to pop to");
    const size_t mark = marks_.back();
    marks_.pop_back();
    std::vector<const Value*> items(stack_.begin() + static_cast<std::ptrdiff_t>(mark), stack_.end());
    stack_.resize(mark);
    return items;
  }
  void check_container(size_t new_size) const {
    if (new_size > limits_.max_container_items) {
      over_limit("container size", limits_.max_container_items);
    }
  }
  void push_int(int64_t i) {
    Value* v = make(Value::Kind::Int);
    v->integer = i;
    push(v);
  }
  void push_tuple(std::vector<const Value*> items) {
    check_container(items.size());
    Value* v = make(Value::Kind::Tuple);
    v->items = std::move(items);
    push(v);
  }
  void push_string(uint64_t length) {
    if (length > limits_.max_string_bytes) over_limit("string length", limits_.max_string_bytes);
    const uint8_t* p = take(length, "string");
    if (!is_valid_utf8(p, static_cast<size_t>(length))) malformed("string is not valid UTF-8");
    Value* v = make(Value::Kind::String);
    v->text.assign(reinterpret_cast<const char*>(p), static_cast<size_t>(length));
    push(v);
  }
  void memo_put(uint64_t index) {
    Value* v = top();
    auto it = memo_.find(index);
    if (it != memo_.end()) {
      it->second = v;
      return;
    }
    if (memo_.size() >= limits_.max_memo_entries) over_limit("memo size", limits_.max_memo_entries);
    memo_.emplace(index, v);
  }
  void memo_get(uint64_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) malformed(cat("memo index ", index, " out of range (never stored)"));
    push(it->second);
  }

  void set_items(Value* dict, const std::vector<const Value*>& kv) {
    if (dict->kind != Value::Kind::Dict) {
      malformed(cat("setting items on a ", kind_name(dict->kind), ", expected a dict"));
    }
    if (kv.size() % 2 != 0) malformed(cat("odd number of values (", kv.size(), ") for key/value pairs"));
    check_container(dict->entries.size() + kv.size() / 2);
    for (size_t i = 0; i < kv.size(); i += 2) {
      if (!is_hashable_key(*kv[i])) malformed(cat("dict key is a ", kind_name(kv[i]->kind)));
      dict->entries.emplace_back(kv[i], kv[i + 1]);
    }
  }
  void append_items(Value* list, const std::vector<const Value*>& items) {
    if (list->kind != Value::Kind::List) {
      malformed(cat("appending to a ", kind_name(list->kind), ", expected a list"));
    }
    check_container(list->items.size() + items.size());
    list->items.insert(list->items.end(), items.begin(), items.end());
  }

  void load_global(const std::string& module, const std::string& name);
  void load_persistent_id();
  void reduce();
  Value* rebuild_tensor(const Value& args);

  const uint8_t* bytes_;
  size_t size_;
  const std::string& file_;
  const std::string& stream_;
  const Limits& limits_;
  size_t pos_ = 0;
  size_t op_at_ = 0;  // offset of the opcode being executed
  uint8_t op_ = 0;
  PickleTree tree_;
  std::vector<Value*> stack_;
  std::vector<size_t> marks_;  // stack sizes at each open MARK
  std::unordered_map<uint64_t, Value*> memo_;
};

void Machine::load_global(const std::string& module, const std::string& name) {
  for (const AllowedGlobal& g : kAllowedGlobals) {
    if (module == g.module && name == g.name) {
      Value* v = make(Value::Kind::Global);
      v->global = g.global;
      v->storage_dtype = g.storage_dtype;
      v->text = module + "." + name;
      push(v);
      return;
    }
  }
  // Refused here, before anything could be REDUCEd: we never resolve it.
  throw Error(cat(file_, ": refusing to load: ", stream_, " references non-allowlisted global '",
                  printable(module), ".", printable(name), "' at offset ", op_at_,
                  "; this file may try to run code. Convert it with a trusted tool or obtain a "
                  "safetensors file."));
}

void Machine::load_persistent_id() {
  const Value* pid = pop();
  const auto& f = pid->items;
  const bool ok = pid->kind == Value::Kind::Tuple && f.size() == 5 &&
                  f[0]->kind == Value::Kind::String && f[0]->text == "storage" &&
                  f[1]->kind == Value::Kind::Global && f[1]->global == Global::StorageType &&
                  f[2]->kind == Value::Kind::String && f[3]->kind == Value::Kind::String &&
                  f[4]->kind == Value::Kind::Int && f[4]->integer >= 0;
  if (!ok) {
    malformed("persistent id is not ('storage', torch.<Type>Storage, key, location, numel)");
  }
  Value* v = make(Value::Kind::Storage);
  v->storage.dtype = f[1]->storage_dtype;
  v->storage.key = f[2]->text;
  v->storage.location = f[3]->text;
  v->storage.numel = f[4]->integer;
  push(v);
}

Value* Machine::rebuild_tensor(const Value& args) {
  // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
  //                    backward_hooks[, metadata])
  const auto& a = args.items;
  if (a.size() != 6 && a.size() != 7) {
    malformed(cat("_rebuild_tensor_v2 takes 6 or 7 arguments, found ", a.size()));
  }
  if (a[0]->kind != Value::Kind::Storage) {
    malformed(cat("_rebuild_tensor_v2 storage is a ", kind_name(a[0]->kind)));
  }
  if (a[1]->kind != Value::Kind::Int || a[1]->integer < 0) {
    malformed("_rebuild_tensor_v2 storage_offset is not a non-negative int");
  }
  auto int_tuple = [&](const Value* t, const char* what) {
    if (t->kind != Value::Kind::Tuple) malformed(cat("_rebuild_tensor_v2 ", what, " is not a tuple"));
    if (t->items.size() > limits_.max_tensor_dims) over_limit("tensor rank", limits_.max_tensor_dims);
    std::vector<int64_t> out;
    for (const Value* e : t->items) {
      if (e->kind != Value::Kind::Int || e->integer < 0) {
        malformed(cat("_rebuild_tensor_v2 ", what, " has an entry that is not a non-negative int"));
      }
      out.push_back(e->integer);
    }
    return out;
  };
  Value* v = make(Value::Kind::Tensor);
  v->tensor.storage = a[0];
  v->tensor.storage_offset = a[1]->integer;
  v->tensor.size = int_tuple(a[2], "size");
  v->tensor.stride = int_tuple(a[3], "stride");
  if (v->tensor.size.size() != v->tensor.stride.size()) {
    malformed(cat("_rebuild_tensor_v2 size has ", v->tensor.size.size(), " dims but stride has ",
                  v->tensor.stride.size()));
  }
  if (a[4]->kind != Value::Kind::Bool) malformed("_rebuild_tensor_v2 requires_grad is not a bool");
  v->tensor.requires_grad = a[4]->boolean;
  // Backward hooks are never run by us; any callables would have needed a
  // non-allowlisted global anyway.
  if (a[5]->kind != Value::Kind::Dict) malformed("_rebuild_tensor_v2 backward_hooks is not a dict");
  // torch 2.x metadata (conjugate/negative bits) would change the values.
  if (a.size() == 7 && !(a[6]->kind == Value::Kind::None ||
                         (a[6]->kind == Value::Kind::Dict && a[6]->entries.empty()))) {
    malformed("_rebuild_tensor_v2 tensor metadata (e.g. conjugate/negative bit) is not supported");
  }
  return v;
}

void Machine::reduce() {
  const Value* args = pop();
  const Value* callable = pop();
  if (args->kind != Value::Kind::Tuple) malformed(cat("REDUCE arguments are a ", kind_name(args->kind)));
  if (callable->kind != Value::Kind::Global) {
    malformed(cat("REDUCE on a ", kind_name(callable->kind), "; only allow-listed callables"));
  }
  switch (callable->global) {
    case Global::OrderedDict: {
      if (!args->items.empty()) malformed("OrderedDict() with arguments is not supported");
      Value* d = make(Value::Kind::Dict);
      d->ordered = true;
      push(d);
      return;
    }
    case Global::RebuildTensorV2:
      push(rebuild_tensor(*args));
      return;
    case Global::RebuildParameter: {
      // _rebuild_parameter(data, requires_grad, backward_hooks): the tensor itself.
      const auto& a = args->items;
      if (a.size() != 3 || a[0]->kind != Value::Kind::Tensor || a[1]->kind != Value::Kind::Bool ||
          a[2]->kind != Value::Kind::Dict) {
        malformed("_rebuild_parameter arguments are not (tensor, bool, dict)");
      }
      push(const_cast<Value*>(a[0]));  // arena values are ours; shared like the memo
      return;
    }
    case Global::StorageType:
      malformed(cat(callable->text, " may only appear in a storage persistent id, not be called"));
  }
  SLMKIT_ASSERT(false, "unhandled allow-listed global");
}

PickleTree Machine::run() {
  while (pos_ < size_) {
    op_at_ = pos_;
    op_ = bytes_[pos_++];
    switch (op_) {
      case PROTO: {
        const uint64_t version = read_le(1, "protocol");
        if (version > 5) malformed(cat("unsupported pickle protocol ", version));
        break;
      }
      case FRAME: {
        // Framing only groups opcodes; the frame must lie within the stream.
        const uint64_t frame_bytes = read_le(8, "frame length");
        if (frame_bytes > size_ - pos_) malformed(cat("frame of ", frame_bytes, " bytes runs past the end"));
        break;
      }
      case STOP: {
        if (!marks_.empty()) malformed(cat(marks_.size(), " MARK(s) still open at STOP"));
        if (stack_.size() != 1) malformed(cat("STOP with ", stack_.size(), " values on the stack, expected 1"));
        if (pos_ != size_) malformed(cat(size_ - pos_, " trailing bytes after STOP"));
        tree_.root_ = stack_.back();
        return std::move(tree_);
      }
      case MARK:
        if (marks_.size() >= limits_.max_mark_depth) {
          throw Error(cat(where(), ": pickle nesting too deep (more than ", limits_.max_mark_depth,
                          " open MARKs) at offset ", op_at_, "; refusing a possibly hostile file"));
        }
        marks_.push_back(stack_.size());
        break;
      case EMPTY_DICT: push(make(Value::Kind::Dict)); break;
      case EMPTY_LIST: push(make(Value::Kind::List)); break;
      case EMPTY_TUPLE: push_tuple({}); break;
      case TUPLE: push_tuple(pop_to_mark()); break;
      case TUPLE1: { const Value* a = pop(); push_tuple({a}); break; }
      case TUPLE2: { const Value* b = pop(); const Value* a = pop(); push_tuple({a, b}); break; }
      case TUPLE3: {
        const Value* c = pop(); const Value* b = pop(); const Value* a = pop();
        push_tuple({a, b, c});
        break;
      }
      case SHORT_BINUNICODE: push_string(read_le(1, "string length")); break;
      case BINUNICODE: push_string(read_le(4, "string length")); break;
      case BINUNICODE8: push_string(read_le(8, "string length")); break;
      case BININT1: push_int(static_cast<int64_t>(read_le(1, "int"))); break;
      case BININT2: push_int(static_cast<int64_t>(read_le(2, "int"))); break;
      case BININT: push_int(static_cast<int32_t>(static_cast<uint32_t>(read_le(4, "int")))); break;
      case LONG1: {
        const uint64_t n = read_le(1, "long length");
        if (n > 8) malformed(cat("integer of ", n, " bytes does not fit in 64 bits"));
        uint64_t raw = read_le(static_cast<size_t>(n), "long");
        if (n > 0 && n < 8 && (raw >> (8 * n - 1)) & 1) raw |= ~uint64_t{0} << (8 * n);  // sign-extend
        push_int(static_cast<int64_t>(raw));
        break;
      }
      case BINFLOAT: {
        const uint8_t* p = take(8, "float");
        uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits = (bits << 8) | p[i];  // big-endian
        Value* v = make(Value::Kind::Float);
        std::memcpy(&v->real, &bits, sizeof bits);
        push(v);
        break;
      }
      case NEWTRUE: case NEWFALSE: {
        Value* v = make(Value::Kind::Bool);
        v->boolean = op_ == NEWTRUE;
        push(v);
        break;
      }
      case NONE: push(make(Value::Kind::None)); break;
      case BINPUT: memo_put(read_le(1, "memo index")); break;
      case LONG_BINPUT: memo_put(read_le(4, "memo index")); break;
      case MEMOIZE: memo_put(memo_.size()); break;
      case BINGET: memo_get(read_le(1, "memo index")); break;
      case LONG_BINGET: memo_get(read_le(4, "memo index")); break;
      case SETITEM: {
        const Value* value = pop();
        const Value* key = pop();
        set_items(top(), {key, value});
        break;
      }
      case SETITEMS: { const auto kv = pop_to_mark(); set_items(top(), kv); break; }
      case APPEND: { const Value* item = pop(); append_items(top(), {item}); break; }
      case APPENDS: { const auto items = pop_to_mark(); append_items(top(), items); break; }
      case GLOBAL: {
        const std::string module = read_line("GLOBAL module");
        const std::string name = read_line("GLOBAL name");
        load_global(module, name);
        break;
      }
      case STACK_GLOBAL: {
        const Value* name = pop();
        const Value* module = pop();
        if (module->kind != Value::Kind::String || name->kind != Value::Kind::String) {
          malformed("STACK_GLOBAL operands are not two strings");
        }
        load_global(module->text, name->text);
        break;
      }
      case REDUCE: reduce(); break;
      case BUILD: {
        pop();  // state, e.g. {'_metadata': ...} of a state dict: not needed
        const Value* target = top();
        if (target->kind != Value::Kind::Dict) {
          malformed(cat("BUILD on a ", kind_name(target->kind), " is not supported"));
        }
        break;
      }
      case BINPERSID: load_persistent_id(); break;
      default:
        throw Error(cat(where(), ": unsupported pickle opcode 0x", std::hex, int{op_}, std::dec,
                        " (", op_name(op_), ") at offset ", op_at_,
                        "; only the opcodes torch.save emits for state dicts are accepted"));
    }
  }
  throw Error(cat(where(), ": malformed pickle: stream ends at offset ", size_,
                  " without STOP (truncated data.pkl?)"));
}

PickleTree unpickle(const uint8_t* bytes, size_t size, const std::string& file,
                    const std::string& stream, const Limits& limits) {
  SLMKIT_ASSERT(bytes != nullptr || size == 0);
  Machine machine(bytes, size, file, stream, limits);
  return machine.run();
}

}  // namespace slmkit::pickle
