// Raw bytes as data.pkl: the allow-list unpickler. Invariants checked on success:
// the only globals in the tree are allow-listed ones, and tensor descriptions
// have matching size/stride ranks within the limit.
#include "fuzz_util.h"
#include "io/unpickler.h"

namespace {

void check_value(const slmkit::pickle::Value& v, const slmkit::Limits& limits) {
  using slmkit::pickle::Value;
  if (v.kind == Value::Kind::Global)
    SLMKIT_ASSERT(v.text == "collections.OrderedDict" || v.text.rfind("torch.", 0) == 0,
                  "non-allowlisted global ", v.text);
  if (v.kind == Value::Kind::Tensor) {
    SLMKIT_ASSERT(v.tensor.size.size() == v.tensor.stride.size());
    SLMKIT_ASSERT(v.tensor.size.size() <= limits.pickle.max_tensor_dims);
    SLMKIT_ASSERT(v.tensor.storage != nullptr && v.tensor.storage->kind == Value::Kind::Storage);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace slmkit;
  static const Limits limits = fuzz::lowered_limits();
  return fuzz::run_expecting_only_errors([&] {
    const pickle::PickleTree tree = pickle::unpickle(data, size, "fuzz.pt", "archive/data.pkl", limits.pickle);
    // Walk one level of containers (values may share and even contain each other
    // through the memo, so no recursive walk).
    const pickle::Value& root = tree.root();
    check_value(root, limits);
    for (const pickle::Value* item : root.items) check_value(*item, limits);
    for (const auto& [k, v] : root.entries) {
      check_value(*k, limits);
      check_value(*v, limits);
    }
  });
}
