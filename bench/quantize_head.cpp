// Bench-only helper: copies a GPTQ checkpoint with its untied lm_head quantized
// too (RTN, symmetric, GPTQModel's `lm_head: true`), so the runtime can be
// measured on the bytes llama.cpp's Q4_0 file type reads per token (it stores
// output.weight as Q6_K). `slmkit quantize` leaves lm_head dense; this is not a
// product path.
//
//   quantize_head IN_DIR OUT_DIR [BITS=8] [GROUP=32]
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/error.h"
#include "model/checkpoint.h"
#include "quantize/rtn.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: quantize_head IN_DIR OUT_DIR [BITS=8] [GROUP=32]\n");
    return 2;
  }
  try {
    slmkit::Model m = slmkit::load_model(argv[1]);
    SLMKIT_CHECK(!m.config.tie_word_embeddings, argv[1], ": lm_head is tied to the embedding; a quantized head must ",
                 "be untied");
    slmkit::QuantGrid grid;
    grid.bits = argc > 3 ? std::atoi(argv[3]) : 8;
    grid.group_size = argc > 4 ? std::atoll(argv[4]) : 32;
    grid.symmetric = true;
    slmkit::check_grid(grid);
    slmkit::Linear& head = m.linear("lm_head");
    head.weights = slmkit::pack_gptq(slmkit::quantize_rtn(head.dense_weight(), grid));
    slmkit::save_model(m, argv[2]);
    std::printf("%s: lm_head %s, written to %s\n", argv[1], slmkit::describe(grid).c_str(), argv[2]);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "quantize_head: error: %s\n", e.what());
    return 1;
  }
}
