// slmkit synth --shape NAME --out DIR: a random-weight Hugging Face checkpoint
// with a real architecture's shapes, for speed and memory work at realistic sizes.
#include <cstdio>
#include <filesystem>

#include "cli.h"
#include "core/error.h"
#include "io/atomic_file.h"
#include "io/mapped_file.h"
#include "model/checkpoint.h"
#include "model/synthetic.h"
#include "pipeline/output_dir.h"

namespace slmkit::cli {

int run_synth(const std::vector<std::string>& args) {
  std::string shape, out_dir, tokenizer_from, dtype = "float32";
  uint64_t seed = 0;
  bool force = false;
  std::string shapes;
  for (const auto& n : preset_names()) shapes += (shapes.empty() ? "" : ", ") + n;
  po::options_description desc("synth options");
  desc.add_options()
      ("shape", po::value<std::string>(&shape)->required(), ("architecture shape: " + shapes).c_str())
      ("out,o", po::value<std::string>(&out_dir)->required(), "output directory")
      ("seed", po::value<uint64_t>(&seed)->default_value(0), "random seed (weights ~ N(0, 0.02^2), norms 1)")
      ("dtype", po::value<std::string>(&dtype)->default_value("float32"), "float32 or bfloat16")
      ("tokenizer-from", po::value<std::string>(&tokenizer_from),
       "copy this SentencePiece tokenizer.model (default: $SLMKIT_DATA/tokenizers/llama2/tokenizer.model "
       "when its 32000 ids fit the vocabulary) so the checkpoint can be calibrated and run")
      ("force", po::bool_switch(&force), "overwrite an existing output directory");
  po::variables_map vm;
  if (!parse_args(args, "usage: slmkit synth --shape smollm2-135m --out DIR", desc, "shape", 1, vm)) return 0;
  SLMKIT_CHECK(dtype == "float32" || dtype == "bfloat16", "--dtype must be float32 or bfloat16, found \"", dtype, "\"");
  const ModelConfig config = preset_config(shape);  // throws, listing the shapes, on an unknown name
  prepare_output_dir(out_dir, force);
  Model model = synthesize_model(config, seed, dtype == "bfloat16" ? at::kBFloat16 : at::kFloat);
  save_model(model, out_dir, {{"slmkit_synthetic", cat(shape, " seed ", seed)}});
  namespace fs = std::filesystem;
  if (tokenizer_from.empty() && config.vocab_size >= 32000) {
    const std::string llama2 = data_dir() + "/tokenizers/llama2/tokenizer.model";
    if (fs::exists(llama2)) tokenizer_from = llama2;
  }
  if (!tokenizer_from.empty())
    write_file_atomic((fs::path(out_dir) / "tokenizer.model").string(), read_text_file(tokenizer_from));
  std::printf("synthetic %s (random weights, seed %llu): %s parameters, %s, written to %s%s\n", shape.c_str(),
              static_cast<unsigned long long>(seed), with_commas(model.parameter_count()).c_str(), dtype.c_str(),
              out_dir.c_str(), tokenizer_from.empty() ? " (no tokenizer: pass --tokenizer when running it)" : "");
  return 0;
}

}  // namespace slmkit::cli
