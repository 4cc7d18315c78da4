// Raw bytes as tokenizer.json: strict JSON, the byte-level BPE tokenizer's
// loader (vocab, merges, added tokens, normalizers, pre-tokenizer regexes,
// post-processor), then encode + decode of a fixed text.
#include "fuzz_util.h"
#include "io/json.h"
#include "tokenizer/bpe_tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace slmkit;
  static const Limits limits = fuzz::lowered_limits();
  return fuzz::run_expecting_only_errors([&] {
    const nlohmann::json j = parse_json_strict(fuzz::bytes_of(data, size), "tokenizer.json", limits);
    if (!BpeTokenizer::is_byte_level_bpe(j)) return;
    const BpeTokenizer tok(j, nlohmann::json(), "tokenizer.json");
    const std::vector<int32_t> ids = tok.encode("Hello, world! 123 héllo\n\tdone.", true);
    for (int32_t id : ids) SLMKIT_ASSERT(id >= 0 && id < tok.vocab_size(), "encode produced id ", id);
    tok.decode(ids);
  });
}
