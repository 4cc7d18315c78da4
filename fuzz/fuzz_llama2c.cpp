// Raw bytes as llama2.c files. The first byte chooses the reader: even → a
// checkpoint (.bin: 7 int32 header + fp32 weights), odd → a tokenizer.bin
// (then encode/decode of a fixed text). The rest is the file.
#include "core/tensor_view.h"
#include "fuzz_util.h"
#include "io/llama2c_checkpoint.h"
#include "io/mapped_file.h"
#include "tokenizer/llama2c_tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace slmkit;
  if (size == 0) return 0;
  const bool tokenizer = data[0] & 1;
  auto file = MappedFile::from_bytes(tokenizer ? "tokenizer.bin" : "model.bin", fuzz::bytes_of(data + 1, size - 1));
  return fuzz::run_expecting_only_errors([&] {
    if (tokenizer) {
      const Llama2cTokenizer tok(file);
      const std::vector<int32_t> ids = tok.encode("Hello, world! héllo \xff done.", true);
      for (int32_t id : ids) SLMKIT_ASSERT(id >= 0 && id < tok.vocab_size(), "encode produced id ", id);
      tok.decode(ids);
    } else {
      const Llama2cCheckpoint ck = read_llama2c(file);
      for (const auto& [name, view] : ck.tensors.tensors) fuzz::touch(view.data, view.nbytes());
    }
  });
}
