// Streams generated tokens as text. Decoding token by token is wrong for
// byte-fallback pieces (one character split over several tokens) and for
// SentencePiece's leading-space rule, so the whole continuation is decoded each
// time and only the new suffix is printed.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "core/sampling.h"
#include "tokenizer/tokenizer.h"

namespace slmkit::runtime {

class TextStream {
 public:
  // print_ids: write "id " per token instead of text. `prompt` (already
  // printed by the caller) is decoded with the new tokens but not printed, so
  // the first word gets the space SentencePiece gives it after the prompt.
  TextStream(const Tokenizer& tokenizer, std::FILE* out, bool print_ids, const std::vector<int32_t>& prompt = {});

  void add(int32_t token);

 private:
  const Tokenizer& tokenizer_;
  std::FILE* out_;
  bool ids_;
  std::vector<int32_t> tokens_;
  std::string printed_;
};

// "prefill: 12 tokens in 0.010 s (1200.0 tok/s) | decode: 64 tokens in 1.000 s (64.0 tok/s)[ | stopped at EOS]"
std::string describe_speed(const GenerationStats& st);

}  // namespace slmkit::runtime
