// Raw bytes as a torch.save file: zip + allow-list unpickler + storage binding
// and view bounds, end to end; every resulting tensor is read end to end.
#include "core/tensor_view.h"
#include "fuzz_util.h"
#include "io/mapped_file.h"
#include "io/torch_checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace slmkit;
  static const Limits limits = fuzz::lowered_limits();
  return fuzz::run_expecting_only_errors([&] {
    const TensorSet set = read_torch_checkpoint(MappedFile::from_bytes("fuzz.pt", fuzz::bytes_of(data, size)), limits);
    for (const auto& [name, view] : set.tensors) {
      SLMKIT_ASSERT(view.numel() >= 0);
      fuzz::touch(view.data, view.nbytes());
    }
  });
}
