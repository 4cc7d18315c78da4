// slmkit: one binary, one subcommand per job. The table below is the single
// list of commands; it drives dispatch and `slmkit --help`.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cli.h"
#include "core/blas_setup.h"
#include "core/error.h"

namespace {

const slmkit::cli::Command kCommands[] = {
    {"eval", "perplexity of a model on a text (GPTQ or llama.cpp protocol)", slmkit::cli::run_eval},
    {"inspect", "architecture, parameter count, dtypes and tensors of a checkpoint", slmkit::cli::run_inspect},
    {"generate", "generate text from a prompt (greedy or sampled)", slmkit::cli::run_generate},
    {"quantize", "weight-only quantization (RTN, GPTQ, AWQ) to 2-8 bits, saved in GPTQ format", slmkit::cli::run_quantize},
    {"compare", "table and plot of size, perplexity, KL, accuracy and speed for a model and its variants",
     slmkit::cli::run_compare},
    {"prune", "structured (KV groups, MLP channels), depth or unstructured/2:4 pruning", slmkit::cli::run_prune},
    {"synth", "a random-weight checkpoint with a real architecture's shapes (for speed work)", slmkit::cli::run_synth},
};

void print_usage(std::FILE* out) {
  std::fprintf(out, "usage: slmkit <command> [options]   (slmkit <command> --help for its options)\n\ncommands:\n");
  for (const auto& c : kCommands) std::fprintf(out, "  %-10s %s\n", c.name, c.summary);
}

}  // namespace

int main(int argc, char** argv) {
  slmkit::ensure_fast_blas(argc, argv);
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "help")) {
    print_usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::string name = argv[1];
  for (const auto& c : kCommands) {
    if (name != c.name) continue;
    try {
      return c.run(std::vector<std::string>(argv + 2, argv + argc));
    } catch (const slmkit::Error& e) {
      std::fprintf(stderr, "slmkit %s: error: %s\n", c.name, e.what());
      return 1;
    } catch (const slmkit::InternalError& e) {
      std::fprintf(stderr, "slmkit %s: %s\nThis is a bug in slmkit; please report it.\n", c.name, e.what());
      return 70;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "slmkit %s: error: %s\n", c.name, e.what());
      return 1;
    }
  }
  std::fprintf(stderr, "slmkit: unknown command \"%s\"\n\n", name.c_str());
  print_usage(stderr);
  return 2;
}
