// Raw bytes as a whole GGUF file: header, metadata, tensor infos, offsets and
// data bounds; every tensor's data is read end to end and every value summarised.
#include "fuzz_util.h"
#include "io/gguf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace slmkit;
  static const Limits limits = fuzz::lowered_limits();
  return fuzz::run_expecting_only_errors([&] {
    const GgufFile f = parse_gguf(data, size, "fuzz.gguf", limits.gguf);
    uint64_t sum = 0;
    for (const GgufTensor& t : f.tensors) {
      SLMKIT_ASSERT(t.data >= data && t.data + t.nbytes <= data + size, "tensor ", t.name, " outside the file");
      sum += fuzz::touch(t.data, t.nbytes);
    }
    for (const GgufKeyValue& kv : f.metadata) sum += kv.value.summary().size();
    (void)sum;
  });
}
