// slmkit: one binary, one subcommand per job. The table below is the single
// list of commands; it drives dispatch and `slmkit --help`.
#include <csignal>
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
    {"bench", "speed of the native runtime: prefill/decode tok/s, bytes per token, bandwidth fraction, RSS",
     slmkit::cli::run_bench},
    {"quantize", "weight-only quantization (RTN, GPTQ, AWQ) to 2-8 bits, saved in GPTQ format", slmkit::cli::run_quantize},
    {"export", "a GGUF file for llama.cpp (f16/q8_0/q4_0/q4_1/q4_k_m; GPTQ grids kept exactly)", slmkit::cli::run_export},
    {"compare", "table and plot of size, perplexity, KL, accuracy and speed for a model and its variants",
     slmkit::cli::run_compare},
    {"pipeline", "a multi-step recipe (configs/*.yaml) over one model, each step's output cached by its inputs",
     slmkit::cli::run_pipeline},
    {"prune", "structured (KV groups, MLP channels), depth or unstructured/2:4 pruning", slmkit::cli::run_prune},
    {"lowrank", "factorize block linears W ~ B*A (SVD, ASVD, SVD-LLM) to a parameter target", slmkit::cli::run_lowrank},
    {"finetune", "recovery fine-tuning of a compressed model: LoRA adapters, CE or distillation from the original",
     slmkit::cli::run_finetune},
    {"compensate", "low-rank (LoRA) correction of a compressed model's error, saved as a PEFT adapter",
     slmkit::cli::run_compensate},
    {"merge", "merge a PEFT LoRA adapter into a model's weights (quantized layers re-quantized)", slmkit::cli::run_merge},
    {"synth", "a random-weight checkpoint with a real architecture's shapes (for speed work)", slmkit::cli::run_synth},
};

void print_usage(std::FILE* out) {
  std::fprintf(out, "usage: slmkit <command> [options]   (slmkit <command> --help for its options)\n\ncommands:\n");
  for (const auto& c : kCommands) std::fprintf(out, "  %-10s %s\n", c.name, c.summary);
}

}  // namespace

int main(int argc, char** argv) {
  slmkit::ensure_fast_blas(argc, argv);
  // Past a file-size limit (ulimit -f) a write must fail with EFBIG, which the
  // atomic writers report and clean up after, instead of the default SIGXFSZ
  // killing the process with a half-written temporary file left behind.
  std::signal(SIGXFSZ, SIG_IGN);
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
