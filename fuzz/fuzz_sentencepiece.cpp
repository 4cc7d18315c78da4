// Raw bytes as a SentencePiece tokenizer.model (protobuf): the wire-format
// parser and model checks, then the tokenizer's own checks and an encode/decode
// of a fixed text.
#include "fuzz_util.h"
#include "tokenizer/spm_model.h"
#include "tokenizer/spm_tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace slmkit;
  static const Limits limits = fuzz::lowered_limits();
  return fuzz::run_expecting_only_errors([&] {
    SpmModel model = parse_spm_model(fuzz::bytes_of(data, size), "tokenizer.model", limits);
    const SpmTokenizer tok(std::move(model), "tokenizer.model");
    const std::vector<int32_t> ids = tok.encode("Hello, world! 123 héllo\n\tdone. \xe2\x96\x81", true);
    for (int32_t id : ids) SLMKIT_ASSERT(id >= 0 && id < tok.vocab_size(), "encode produced id ", id);
    tok.decode(ids);
  });
}
