#include "runtime/text_stream.h"

#include <algorithm>

namespace slmkit::runtime {

TextStream::TextStream(const Tokenizer& tokenizer, std::FILE* out, bool print_ids, const std::vector<int32_t>& prompt)
    : tokenizer_(tokenizer), out_(out), ids_(print_ids), tokens_(prompt) {
  if (!ids_) printed_ = tokenizer_.decode(tokens_);
}

void TextStream::add(int32_t token) {
  tokens_.push_back(token);
  if (ids_) {
    std::fprintf(out_, "%d ", token);
  } else {
    const std::string text = tokenizer_.decode(tokens_);
    if (text.size() > printed_.size() && text.compare(0, printed_.size(), printed_) == 0) {
      std::fputs(text.c_str() + printed_.size(), out_);
      printed_ = text;
    }
  }
  std::fflush(out_);
}

std::string describe_speed(const GenerationStats& st) {
  char line[256];
  std::snprintf(line, sizeof line,
                "prefill: %lld tokens in %.3f s (%.1f tok/s) | decode: %lld tokens in %.3f s (%.1f tok/s)%s",
                static_cast<long long>(st.prompt_tokens), st.prefill_seconds,
                st.prompt_tokens / std::max(1e-9, st.prefill_seconds), static_cast<long long>(st.generated_tokens),
                st.decode_seconds, st.generated_tokens / std::max(1e-9, st.decode_seconds),
                st.stopped_at_eos ? " | stopped at EOS" : "");
  return line;
}

}  // namespace slmkit::runtime
