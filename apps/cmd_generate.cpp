// slmkit generate MODEL --prompt TEXT: streamed generation with the reference forward pass.
#include <cstdio>

#include "cli.h"
#include "core/error.h"
#include "model/generate.h"

namespace slmkit::cli {

int run_generate(const std::vector<std::string>& args) {
  CommonOptions common;
  std::string model_path, prompt;
  SamplingConfig s;
  bool ids = false;
  po::options_description desc("generate options");
  desc.add_options()
      ("model", po::value<std::string>(&model_path)->required(), "checkpoint directory or file")
      ("prompt,p", po::value<std::string>(&prompt)->default_value(""), "prompt text (empty: start from BOS)")
      ("max-tokens,n", po::value<int64_t>(&s.max_new_tokens)->default_value(128), "tokens to generate at most")
      ("temperature", po::value<double>(&s.temperature)->default_value(0.0), "0 = greedy")
      ("top-k", po::value<int64_t>(&s.top_k)->default_value(0), "keep the k most likely tokens (0 = all)")
      ("top-p", po::value<double>(&s.top_p)->default_value(1.0), "nucleus sampling mass (1 = off)")
      ("repeat-penalty", po::value<double>(&s.repetition_penalty)->default_value(1.0), "penalty for repeated tokens (1 = off)")
      ("seed", po::value<uint64_t>(&s.seed)->default_value(0), "random seed for sampling")
      ("ids", po::bool_switch(&ids), "print token ids instead of text");
  add_common_options(desc, common);
  po::variables_map vm;
  if (!parse_args(args, "usage: slmkit generate MODEL [--prompt TEXT] [--max-tokens N] [--temperature T] [--top-p P]",
                  desc, "model", 1, vm))
    return 0;
  SLMKIT_CHECK(s.temperature >= 0, "--temperature must be >= 0");
  SLMKIT_CHECK(s.top_p > 0 && s.top_p <= 1, "--top-p must be in (0, 1]");
  SLMKIT_CHECK(s.max_new_tokens > 0, "--max-tokens must be positive");
  SLMKIT_CHECK(s.repetition_penalty > 0, "--repeat-penalty must be positive");
  apply_threads(common);
  auto model = load_model_for_cli(model_path, common);
  auto tokenizer = load_tokenizer_for_cli(model_path, common);

  std::vector<int32_t> prompt_ids = tokenizer->encode(prompt, tokenizer->bos_id() >= 0);
  if (prompt_ids.empty()) prompt_ids.push_back(model->config.bos_token_id >= 0 ? model->config.bos_token_id : 0);
  std::fputs(prompt.c_str(), stdout);
  std::vector<int32_t> generated;
  std::string printed;
  GenerationStats st;
  generate(*model, prompt_ids, s,
           [&](int32_t token) {
             generated.push_back(token);
             if (ids) {
               std::printf("%d ", token);
             } else {
               // Decode the whole continuation and print what is new, so
               // multi-token characters and leading-space rules come out right.
               const std::string text = tokenizer->decode(generated);
               if (text.size() > printed.size() && text.compare(0, printed.size(), printed) == 0) {
                 std::fputs(text.c_str() + printed.size(), stdout);
                 printed = text;
               }
             }
             std::fflush(stdout);
           },
           &st);
  std::printf("\n");
  std::fprintf(stderr, "prefill: %lld tokens in %.3f s (%.1f tok/s) | decode: %lld tokens in %.3f s (%.1f tok/s)%s\n",
               static_cast<long long>(st.prompt_tokens), st.prefill_seconds,
               st.prompt_tokens / std::max(1e-9, st.prefill_seconds), static_cast<long long>(st.generated_tokens),
               st.decode_seconds, st.generated_tokens / std::max(1e-9, st.decode_seconds),
               st.stopped_at_eos ? " | stopped at EOS" : "");
  return 0;
}

}  // namespace slmkit::cli
