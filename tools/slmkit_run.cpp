// slmkit-run: the edge binary. Loads a checkpoint with the LibTorch-free
// runtime and streams generated text; links slmkit_runtime alone (no LibTorch,
// no Boost), so its size and shared-library list are what a device needs.
//
//   slmkit-run MODEL [-p PROMPT] [-n MAX_TOKENS] [--temperature T] [--top-k K]
//              [--top-p P] [--repeat-penalty R] [--seed S] [-t THREADS]
//              [--kv-dtype f32|f16] [--tokenizer PATH] [--ids] [--ignore-eos]
#include <omp.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <type_traits>

#include "core/error.h"
#include "core/sampling.h"
#include "model/raw_checkpoint.h"
#include "runtime/generation.h"
#include "runtime/text_stream.h"
#include "tokenizer/tokenizer.h"

namespace {

constexpr const char* kUsage =
    "usage: slmkit-run MODEL [options]\n"
    "\n"
    "  MODEL                    checkpoint directory or file (HF safetensors, GPTQ, llama2.c .bin)\n"
    "  -p, --prompt TEXT        prompt (empty: start from BOS)\n"
    "  -n, --max-tokens N       tokens to generate at most (default 128)\n"
    "      --temperature T      0 = greedy (default 0)\n"
    "      --top-k K            keep the k most likely tokens (0 = all)\n"
    "      --top-p P            nucleus sampling mass (1 = off)\n"
    "      --repeat-penalty R   penalty for repeated tokens (1 = off)\n"
    "      --seed S             random seed for sampling (default 0)\n"
    "  -t, --threads N          CPU threads (0 = all cores)\n"
    "      --kv-dtype f32|f16   KV cache element type (default f32)\n"
    "      --tokenizer PATH     tokenizer file or directory (default: the model's own)\n"
    "      --ids                print token ids instead of text\n"
    "      --ignore-eos         keep generating after an end-of-sequence token\n";

struct Options {
  std::string model, prompt, tokenizer, kv_dtype = "f32";
  slmkit::SamplingConfig sampling;
  int threads = 0;
  bool ids = false;
};

// Parses a number for `flag`, or throws Error naming it.
template <typename T>
T number(const char* flag, const char* text) {
  char* end = nullptr;
  errno = 0;
  T value;
  if constexpr (std::is_floating_point_v<T>) value = static_cast<T>(std::strtod(text, &end));
  else if constexpr (std::is_unsigned_v<T>) value = static_cast<T>(std::strtoull(text, &end, 10));
  else value = static_cast<T>(std::strtoll(text, &end, 10));
  SLMKIT_CHECK(errno == 0 && end != text && *end == '\0', flag, " expects a number, found \"", text, "\"");
  return value;
}

// Returns false when --help was asked for.
bool parse(int argc, char** argv, Options& o) {
  o.sampling.max_new_tokens = 128;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") return false;
    if (a == "--ids") {
      o.ids = true;
      continue;
    }
    if (a == "--ignore-eos") {
      o.sampling.stop_at_eos = false;
      continue;
    }
    if (a.size() > 1 && a[0] == '-') {
      SLMKIT_CHECK(i + 1 < argc, a, " needs a value\n\n", kUsage);
      const char* v = argv[++i];
      if (a == "-p" || a == "--prompt") o.prompt = v;
      else if (a == "-n" || a == "--max-tokens") o.sampling.max_new_tokens = number<int64_t>(argv[i - 1], v);
      else if (a == "--temperature") o.sampling.temperature = number<double>(argv[i - 1], v);
      else if (a == "--top-k") o.sampling.top_k = number<int64_t>(argv[i - 1], v);
      else if (a == "--top-p") o.sampling.top_p = number<double>(argv[i - 1], v);
      else if (a == "--repeat-penalty") o.sampling.repetition_penalty = number<double>(argv[i - 1], v);
      else if (a == "--seed") o.sampling.seed = number<uint64_t>(argv[i - 1], v);
      else if (a == "-t" || a == "--threads") o.threads = number<int>(argv[i - 1], v);
      else if (a == "--kv-dtype") o.kv_dtype = v;
      else if (a == "--tokenizer") o.tokenizer = v;
      else throw slmkit::Error(slmkit::cat("unknown option ", a, "\n\n", kUsage));
      continue;
    }
    SLMKIT_CHECK(o.model.empty(), "more than one MODEL given (\"", o.model, "\", \"", a, "\")\n\n", kUsage);
    o.model = a;
  }
  SLMKIT_CHECK(!o.model.empty(), "no MODEL given\n\n", kUsage);
  return true;
}

int run(int argc, char** argv) {
  using namespace slmkit;
  Options o;
  if (!parse(argc, argv, o)) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  validate_sampling(o.sampling);
  SLMKIT_CHECK(o.threads >= 0, "--threads must be >= 0, found ", o.threads);
  omp_set_num_threads(o.threads > 0 ? o.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  runtime::SessionOptions session_options;
  session_options.kv_dtype = runtime::parse_kv_dtype(o.kv_dtype);

  const runtime::DecoderModel model = runtime::load_decoder_model(o.model);
  const std::string tok_path = o.tokenizer.empty() ? default_tokenizer_path(o.model) : o.tokenizer;
  SLMKIT_CHECK(!tok_path.empty(), o.model, ": no tokenizer found beside this checkpoint; pass --tokenizer PATH");
  const auto tokenizer = load_tokenizer(tok_path);

  std::vector<int32_t> prompt = tokenizer->encode(o.prompt, tokenizer->bos_id() >= 0);
  if (prompt.empty()) prompt.push_back(model.config.bos_token_id >= 0 ? model.config.bos_token_id : 0);
  session_options.capacity =
      runtime::generation_capacity(model.config, static_cast<int64_t>(prompt.size()), o.sampling);
  runtime::Session session(model, session_options);

  std::fputs(o.prompt.c_str(), stdout);
  runtime::TextStream stream(*tokenizer, stdout, o.ids, prompt);
  GenerationStats st;
  runtime::generate(session, prompt, o.sampling, [&](int32_t t) { stream.add(t); }, &st);
  std::printf("\n");
  std::fprintf(stderr, "%s\n", runtime::describe_speed(st).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const slmkit::Error& e) {
    std::fprintf(stderr, "slmkit-run: error: %s\n", e.what());
    return 1;
  } catch (const slmkit::InternalError& e) {
    std::fprintf(stderr, "slmkit-run: %s\nThis is a bug in slmkit; please report it.\n", e.what());
    return 70;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "slmkit-run: error: %s\n", e.what());
    return 1;
  }
}
