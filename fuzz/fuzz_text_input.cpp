// Raw bytes as calibration / evaluation text: the text checks (empty, binary,
// UTF-8 with line and byte), then tokenization with stories260k's llama2.c
// tokenizer (from $SLMKIT_DATA) in fixed-size chunks, which must round-trip.
#include <cstdlib>
#include <memory>
#include <string>

#include "fuzz_util.h"
#include "tokenizer/llama2c_tokenizer.h"
#include "tokenizer/text_input.h"

namespace {

std::unique_ptr<slmkit::Llama2cTokenizer> load_tokenizer() {
  const char* env = std::getenv("SLMKIT_DATA");
  const std::string data = env && *env ? env : "../shared/data";
  return std::make_unique<slmkit::Llama2cTokenizer>(data + "/models/stories260k-llama2c/tok512.bin");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace slmkit;
  static const std::unique_ptr<Llama2cTokenizer> tok = load_tokenizer();
  const std::string text = fuzz::bytes_of(data, size);
  return fuzz::run_expecting_only_errors([&] {
    check_text_input(text, "calibration text fuzz.txt");
    // Accepted text is valid UTF-8 without NUL: every chunk cut at a line end
    // must encode and decode back to itself (byte fallback covers any code point).
    size_t start = 0;
    while (start < text.size()) {
      size_t end = text.find('\n', start);
      end = end == std::string::npos ? text.size() : end + 1;
      const std::string chunk = text.substr(start, end - start);
      const std::vector<int32_t> ids = tok->encode(chunk, false);
      const std::string back = tok->decode(ids);
      SLMKIT_ASSERT(back == chunk, "decode(encode(x)) != x");
      start = end;
    }
  });
}
