// slmkit generate MODEL --prompt TEXT: streamed generation. On the CPU the
// native runtime (src/runtime, what slmkit-run ships) runs by default;
// --engine torch runs the LibTorch reference forward, and --device cuda runs that
// reference on the GPU.
#include <cstdio>

#include "cli.h"
#include "core/error.h"
#include "core/sampling.h"
#include "model/device.h"
#include "model/generate.h"
#include "runtime/generation.h"
#include "runtime/text_stream.h"

namespace slmkit::cli {

int run_generate(const std::vector<std::string>& args) {
  CommonOptions common;
  std::string model_path, prompt, engine, device_name, kv_dtype;
  SamplingConfig s;
  bool ids = false, ignore_eos = false;
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
      ("engine", po::value<std::string>(&engine)->default_value("native"),
       "native (LibTorch-free runtime, CPU) or torch (reference forward)")
      ("device", po::value<std::string>(&device_name)->default_value("cpu"), "cpu or cuda[:N] (cuda implies --engine torch)")
      ("kv-dtype", po::value<std::string>(&kv_dtype)->default_value("f32"), "native engine: KV cache f32 or f16")
      ("ignore-eos", po::bool_switch(&ignore_eos), "keep generating after an end-of-sequence token")
      ("ids", po::bool_switch(&ids), "print token ids instead of text");
  add_common_options(desc, common);
  po::variables_map vm;
  if (!parse_args(args,
                  "usage: slmkit generate MODEL [--prompt TEXT] [--max-tokens N] [--temperature T] [--top-k K] "
                  "[--top-p P] [--engine native|torch] [--device cpu|cuda]",
                  desc, "model", 1, vm))
    return 0;
  s.stop_at_eos = !ignore_eos;
  validate_sampling(s);
  SLMKIT_CHECK(engine == "native" || engine == "torch", "--engine must be native or torch, found ", engine);
  const bool cuda = device_name != "cpu";
  if (cuda) {
    SLMKIT_CHECK(vm["engine"].defaulted() || engine == "torch", "--engine native runs on the CPU only; ",
                 "--device ", device_name, " uses the LibTorch engine (omit --engine or pass --engine torch)");
    engine = "torch";
  }
  if (engine == "native")
    SLMKIT_CHECK(vm["dtype"].defaulted(), "--dtype applies to --engine torch; the native engine keeps each weight ",
                 "in its stored type and computes in float32");
  const at::Device device = parse_device(device_name);  // checks CUDA before anything is loaded
  const runtime::KvDType kv = runtime::parse_kv_dtype(kv_dtype);
  apply_threads(common);
  auto tokenizer = load_tokenizer_for_cli(model_path, common);
  std::vector<int32_t> prompt_ids = tokenizer->encode(prompt, tokenizer->bos_id() >= 0);

  GenerationStats st;
  if (engine == "native") {
    const runtime::DecoderModel model = runtime::load_decoder_model(model_path);
    if (prompt_ids.empty()) prompt_ids.push_back(model.config.bos_token_id >= 0 ? model.config.bos_token_id : 0);
    std::fputs(prompt.c_str(), stdout);
    runtime::TextStream stream(*tokenizer, stdout, ids, prompt_ids);
    const auto on_token = [&](int32_t t) { stream.add(t); };
    runtime::SessionOptions options;
    options.kv_dtype = kv;
    options.capacity = runtime::generation_capacity(model.config, static_cast<int64_t>(prompt_ids.size()), s);
    runtime::Session session(model, options);
    runtime::generate(session, prompt_ids, s, on_token, &st);
  } else {
    auto model = load_model_for_cli(model_path, common);
    if (cuda) move_model_to_device(*model, device);
    if (prompt_ids.empty()) prompt_ids.push_back(model->config.bos_token_id >= 0 ? model->config.bos_token_id : 0);
    std::fputs(prompt.c_str(), stdout);
    runtime::TextStream stream(*tokenizer, stdout, ids, prompt_ids);
    generate(*model, prompt_ids, s, [&](int32_t t) { stream.add(t); }, &st);
  }
  std::printf("\n");
  std::fprintf(stderr, "%s [%s engine, %s]\n", runtime::describe_speed(st).c_str(), engine.c_str(),
               device_name.c_str());
  return 0;
}

}  // namespace slmkit::cli
