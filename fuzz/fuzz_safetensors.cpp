// Raw bytes as a whole .safetensors file: header parse + validation, then every
// tensor view is read end to end (it must lie inside the buffer).
#include "core/tensor_view.h"
#include "fuzz_util.h"
#include "io/mapped_file.h"
#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace slmkit;
  static const Limits limits = fuzz::lowered_limits();
  return fuzz::run_expecting_only_errors([&] {
    const TensorSet set = read_safetensors(MappedFile::from_bytes("fuzz.safetensors", fuzz::bytes_of(data, size)), limits);
    uint64_t sum = 0;
    for (const auto& [name, view] : set.tensors) {
      SLMKIT_ASSERT(view.numel() >= 0);
      sum += fuzz::touch(view.data, view.nbytes());
    }
    (void)sum;
  });
}
