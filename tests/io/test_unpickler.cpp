// The allow-list unpickler on hand-built opcode strings: values it builds,
// globals it refuses (before any REDUCE), malformed streams and limits.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "io/unpickler.h"
#include "torch_test_builders.h"

namespace slmkit {
namespace {

using namespace std::string_literals;
using pickle::Value;
using test::expect_error;
using test::pk_global;
using test::pk_int1;
using test::pk_proto2;
using test::pk_storage;
using test::pk_str;
using test::pk_tensor;

pickle::PickleTree run(const std::string& bytes, const pickle::Limits& limits = {}) {
  return pickle::unpickle(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "t.pt",
                          "t/data.pkl", limits);
}

void expect_refused(const std::string& bytes, const std::vector<std::string>& fragments) {
  expect_error([&] { run(bytes); }, fragments);
}

TEST(Unpickler, BuildsScalarsAndContainers) {
  // {'a': 1, 'b': [-2, 4464, 2**40, -1], 'c': (0.5, True, None), 'd': ''}
  const std::string bytes = pk_proto2() + "}q\x00("s + pk_str("a") + pk_int1(1) + pk_str("b") +
                            "](J\xfe\xff\xff\xffM\x70\x11" + "\x8a\x06\x00\x00\x00\x00\x00\x01"s +
                            "\x8a\x01\xff" + "e" + pk_str("c") +
                            "G\x3f\xe0\x00\x00\x00\x00\x00\x00\x88N\x87"s + pk_str("d") +
                            "\x8c\x00u."s;
  const auto tree = run(bytes);
  const Value& root = tree.root();
  ASSERT_EQ(root.kind, Value::Kind::Dict);
  ASSERT_EQ(root.entries.size(), 4u);
  EXPECT_EQ(root.entries[0].first->text, "a");
  EXPECT_EQ(root.entries[0].second->integer, 1);
  const Value& list = *root.entries[1].second;
  ASSERT_EQ(list.kind, Value::Kind::List);
  ASSERT_EQ(list.items.size(), 4u);
  EXPECT_EQ(list.items[0]->integer, -2);
  EXPECT_EQ(list.items[1]->integer, 0x1170);
  EXPECT_EQ(list.items[2]->integer, int64_t{1} << 40);
  EXPECT_EQ(list.items[3]->integer, -1);
  const Value& tuple = *root.entries[2].second;
  ASSERT_EQ(tuple.kind, Value::Kind::Tuple);
  EXPECT_DOUBLE_EQ(tuple.items[0]->real, 0.5);
  EXPECT_TRUE(tuple.items[1]->boolean);
  EXPECT_EQ(tuple.items[2]->kind, Value::Kind::None);
  EXPECT_EQ(root.entries[3].second->text, "");
}

TEST(Unpickler, BuildsTensorFromPersistentStorage) {
  const std::string bytes = pk_proto2() + pk_global("collections", "OrderedDict") + ")R" +
                            pk_str("w") + pk_tensor(pk_storage("HalfStorage", "7", 12), 2, {2, 3}, {1, 2}) +
                            "s" + "}b.";  // SETITEM, then BUILD with a state we ignore
  const auto tree = run(bytes);
  const Value& root = tree.root();
  ASSERT_EQ(root.kind, Value::Kind::Dict);
  EXPECT_TRUE(root.ordered);
  ASSERT_EQ(root.entries.size(), 1u);
  const Value& t = *root.entries[0].second;
  ASSERT_EQ(t.kind, Value::Kind::Tensor);
  EXPECT_EQ(t.tensor.storage_offset, 2);
  EXPECT_EQ(t.tensor.size, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(t.tensor.stride, (std::vector<int64_t>{1, 2}));
  const pickle::StorageRef& s = t.tensor.storage->storage;
  EXPECT_EQ(s.dtype, DType::F16);
  EXPECT_EQ(s.key, "7");
  EXPECT_EQ(s.location, "cpu");
  EXPECT_EQ(s.numel, 12);
}

TEST(Unpickler, MemoSharesObjectsAndToleratesCycles) {
  // A list memoized and appended to itself, then (list, list) via BINGET.
  const auto tree = run(pk_proto2() + "]q\x05h\x05" "a" "h\x05\x86.");
  const Value& root = tree.root();
  ASSERT_EQ(root.kind, Value::Kind::Tuple);
  ASSERT_EQ(root.items.size(), 2u);
  EXPECT_EQ(root.items[0], root.items[1]);
  ASSERT_EQ(root.items[0]->items.size(), 1u);
  EXPECT_EQ(root.items[0]->items[0], root.items[0]);
}

TEST(Unpickler, RefusesNonAllowlistedGlobalsBeforeReduce) {
  const std::string call = "q\x00"s + pk_str("touch /tmp/slmkit_pwned") + "\x85R.";
  for (const auto& [module, name] : std::vector<std::pair<std::string, std::string>>{
           {"os", "system"}, {"posix", "system"}, {"builtins", "eval"}, {"subprocess", "Popen"},
           {"torch", "load"}, {"collections", "defaultdict"}, {"torch._utils", "_rebuild_qtensor"}}) {
    // GLOBAL sits at offset 2, right after PROTO: the error names that offset.
    expect_refused(pk_proto2() + pk_global(module, name) + call,
                   {"t.pt: refusing to load: t/data.pkl references non-allowlisted global '" +
                        module + "." + name + "' at offset 2",
                    "may try to run code"});
  }
}

TEST(Unpickler, RefusesStackGlobalToo) {
  const std::string bytes = std::string("\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00", 11) +
                            "\x8c\x02os\x94\x8c\x06system\x94\x93" + pk_str("id") + "\x85R.";
  expect_refused(bytes, {"non-allowlisted global 'os.system' at offset 25"});
}

TEST(Unpickler, EscapesHostileGlobalNames) {
  expect_refused(pk_proto2() + pk_global("os\x01", "sys'tem") + ".", {"'os\\x01.sys\\x27tem'"});
}

TEST(Unpickler, RefusesOpcodesOutsideTheSubset) {
  expect_refused(pk_proto2() + "(iwhatever\nthing\n.", {"unsupported pickle opcode 0x69 (INST) at offset 3"});
  expect_refused(pk_proto2() + "\x81.", {"opcode 0x81 (NEWOBJ) at offset 2"});
  expect_refused(pk_proto2() + "\xff.", {"opcode 0xff (unknown) at offset 2"});
  expect_refused(pk_proto2() + "N0N.", {"opcode 0x30 (POP)"});
  expect_refused("\x80\x06N.", {"unsupported pickle protocol 6"});
}

TEST(Unpickler, DetectsStackUnderflowAndMarkMisuse) {
  expect_refused(pk_proto2() + "\x85.", {"malformed pickle at offset 2 (TUPLE1): stack underflow"});
  expect_refused(pk_proto2() + "t.", {"offset 2 (TUPLE): no MARK to pop to"});
  expect_refused(pk_proto2() + "](N" "a.", {"offset 5 (APPEND): stack underflow"});  // list is below MARK
  expect_refused(pk_proto2() + "}(Nu.", {"(SETITEMS): odd number of values"});
  expect_refused(pk_proto2() + "NN" "a.", {"(APPEND): appending to a None"});
  expect_refused(pk_proto2() + "}]Ns.", {"(SETITEM): dict key is a list"});
  expect_refused(pk_proto2() + "(N.", {"MARK(s) still open at STOP"});
  expect_refused(pk_proto2() + "NN.", {"STOP with 2 values on the stack"});
  expect_refused(pk_proto2() + ".", {"STOP with 0 values"});
}

TEST(Unpickler, DetectsMemoOutOfRange) {
  expect_refused(pk_proto2() + "h\x05.", {"offset 2 (BINGET): memo index 5 out of range"});
  expect_refused(pk_proto2() + "Nq\x00j\x01\x00\x00\x00."s, {"(LONG_BINGET): memo index 1 out of range"});
  expect_refused(pk_proto2() + "q\x00."s, {"(BINPUT): stack underflow"});
}

TEST(Unpickler, RefusesDeeplyNestedMarks) {
  expect_refused(pk_proto2() + std::string(1000, '(') + ".",
                 {"pickle nesting too deep (more than 100 open MARKs) at offset 102"});
}

TEST(Unpickler, DetectsTruncationAndTrailingBytes) {
  expect_refused(pk_proto2() + "N", {"stream ends at offset 3 without STOP"});
  expect_refused(pk_proto2() + "X\x0a\x00\x00\x00" "ab"s, {"(BINUNICODE): string needs 10 bytes but only 2 remain"});
  expect_refused(pk_proto2() + "J\x01\x02", {"(BININT): int needs 4 bytes"});
  expect_refused(pk_proto2() + "cos\nsys", {"(GLOBAL): GLOBAL name is not a newline-terminated line"});
  expect_refused(pk_proto2() + "N.junk", {"4 trailing bytes after STOP"});
  expect_refused(std::string("\x80\x04\x95\xff\x00\x00\x00\x00\x00\x00\x00N.", 13), {"frame of 255 bytes"});
  expect_refused(pk_proto2() + "\x8a\x09" + std::string(9, '\x01') + ".", {"integer of 9 bytes"});
  expect_refused(pk_proto2() + "X\x02\x00\x00\x00\xc3\x28."s, {"not valid UTF-8"});
}

TEST(Unpickler, EnforcesLimits) {
  pickle::Limits small;
  small.max_memo_entries = 2;
  expect_error([&] { run(pk_proto2() + "Nq\x00q\x01q\x02."s, small); }, {"memo size exceeds the limit of 2"});
  small = {};
  small.max_stack_values = 3;
  expect_error([&] { run(pk_proto2() + "NNNN.", small); }, {"stack depth exceeds the limit of 3"});
  small = {};
  small.max_string_bytes = 4;
  expect_error([&] { run(pk_proto2() + pk_str("hello") + ".", small); }, {"string length exceeds the limit of 4"});
  expect_refused(pk_proto2() + "X\xff\xff\xff\xff.", {"string length exceeds the limit of 1048576"});
  small = {};
  small.max_container_items = 2;
  expect_error([&] { run(pk_proto2() + "](NNNe.", small); }, {"container size exceeds the limit of 2"});
  small = {};
  small.max_values = 3;
  expect_error([&] { run(pk_proto2() + "](NNNe.", small); }, {"object count exceeds the limit of 3"});
}

TEST(Unpickler, RestrictsWhatAllowlistedGlobalsMayDo) {
  const std::string od = pk_global("collections", "OrderedDict");
  expect_refused(pk_proto2() + od + "(N" "tR.", {"OrderedDict() with arguments is not supported"});
  expect_refused(pk_proto2() + pk_global("torch", "FloatStorage") + ")R.",
                 {"torch.FloatStorage may only appear in a storage persistent id"});
  expect_refused(pk_proto2() + "N)R.", {"REDUCE on a None"});
  expect_refused(pk_proto2() + "]}b.", {"BUILD on a list is not supported"});
  expect_refused(pk_proto2() + "(" + pk_str("storage") + pk_global("collections", "OrderedDict") +
                     pk_str("0") + pk_str("cpu") + pk_int1(1) + "tQ.",
                 {"persistent id is not ('storage'"});
  expect_refused(pk_proto2() + pk_str("x") + "Q.", {"persistent id is not"});
  // _rebuild_tensor_v2 with a non-storage first argument, and with ranks that differ.
  expect_refused(pk_proto2() + pk_global("torch._utils", "_rebuild_tensor_v2") + "(NK\x00)"s ")" "\x89}tR.",
                 {"_rebuild_tensor_v2 storage is a None"});
  expect_refused(pk_proto2() + pk_tensor(pk_storage("FloatStorage", "0", 4), 0, {2, 2}, {2}) + ".",
                 {"size has 2 dims but stride has 1"});
  // A non-empty torch 2.x metadata dict would change values (neg/conj bits).
  const std::string with_metadata =
      pk_global("torch._utils", "_rebuild_tensor_v2") + "(" + pk_storage("FloatStorage", "0", 1) +
      pk_int1(0) + ")" + ")" + "\x89}}" + pk_str("neg") + "\x88stR.";
  expect_refused(pk_proto2() + with_metadata, {"tensor metadata (e.g. conjugate/negative bit) is not supported"});
}

TEST(Unpickler, RebuildParameterYieldsItsTensor) {
  const std::string bytes = pk_proto2() + pk_global("torch._utils", "_rebuild_parameter") + "(" +
                            pk_tensor(pk_storage("BFloat16Storage", "k", 3), 0, {3}, {1}) +
                            "\x88}tR.";
  const auto tree = run(bytes);
  ASSERT_EQ(tree.root().kind, Value::Kind::Tensor);
  EXPECT_EQ(tree.root().tensor.storage->storage.dtype, DType::BF16);
  EXPECT_EQ(tree.root().tensor.size, (std::vector<int64_t>{3}));
}

TEST(Unpickler, MapsEveryStorageType) {
  const std::vector<std::pair<std::string, DType>> types = {
      {"FloatStorage", DType::F32}, {"HalfStorage", DType::F16}, {"BFloat16Storage", DType::BF16},
      {"DoubleStorage", DType::F64}, {"LongStorage", DType::I64}, {"IntStorage", DType::I32},
      {"ShortStorage", DType::I16}, {"CharStorage", DType::I8}, {"ByteStorage", DType::U8},
      {"BoolStorage", DType::BOOL}};
  for (const auto& [type, dtype] : types) {
    const auto tree = run(pk_proto2() + pk_storage(type, "0", 1) + ".");
    ASSERT_EQ(tree.root().kind, Value::Kind::Storage) << type;
    EXPECT_EQ(tree.root().storage.dtype, dtype) << type;
  }
  expect_refused(pk_proto2() + pk_storage("QInt8Storage", "0", 1) + ".", {"'torch.QInt8Storage'"});
}

}  // namespace
}  // namespace slmkit
