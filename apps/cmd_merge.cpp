// slmkit merge MODEL --adapter DIR --out DIR: folds a PEFT LoRA adapter into the
// model's weights. Dense weights get W + (alpha/r)·B·A exactly; quantized ones
// are re-quantized from dequant(W_q) + ΔW on their own grid, with the error
// that costs reported per tensor.
#include <cstdio>

#include "cli.h"
#include "core/error.h"
#include "io/atomic_file.h"
#include "model/checkpoint.h"
#include "pipeline/lora_adapter.h"
#include "pipeline/output_dir.h"

namespace slmkit::cli {

int run_merge(const std::vector<std::string>& args) {
  CommonOptions common;
  std::string model_path, adapter_dir, out_dir, json_path;
  bool force = false, quiet = false;
  po::options_description desc("merge options");
  desc.add_options()
      ("model", po::value<std::string>(&model_path)->required(), "the base model the adapter was made for")
      ("adapter", po::value<std::string>(&adapter_dir)->required(),
       "PEFT adapter directory (adapter_config.json + adapter_model.safetensors)")
      ("out,o", po::value<std::string>(&out_dir)->required(), "output directory for the merged model")
      ("force", po::bool_switch(&force), "overwrite an existing output directory")
      ("json", po::value<std::string>(&json_path), "write the per-tensor merge report as JSON")
      ("quiet,q", po::bool_switch(&quiet), "no per-tensor lines");
  add_common_options(desc, common);
  po::variables_map vm;
  if (!parse_args(args, "usage: slmkit merge MODEL --adapter ADAPTER_DIR --out DIR", desc, "model", 1, vm)) return 0;
  apply_threads(common);
  prepare_output_dir(out_dir, force);
  auto model = load_model_for_cli(model_path, common);
  const LoraAdapter adapter = load_lora_adapter(adapter_dir, *model);
  const std::vector<LoraMergeReport> reports = merge_lora_adapter(*model, adapter);
  save_model(*model, out_dir);
  copy_tokenizer_files(model_path, out_dir);

  double worst = 0;
  int64_t requantized = 0;
  nlohmann::json tensors = nlohmann::json::array();
  for (const auto& r : reports) {
    if (!quiet && r.form == "quantized")
      std::fprintf(stderr, "  %-40s re-quantized %-14s error %.3e of the merged weight, %.1f%% of the adapter's change\n",
                   r.name.c_str(), r.grid.c_str(), r.relative_error, 100 * r.delta_error);
    if (r.form == "quantized") ++requantized;
    worst = std::max(worst, r.delta_error);
    tensors.push_back({{"name", r.name}, {"form", r.form}, {"grid", r.grid}, {"relative_error", r.relative_error},
                       {"delta_error", r.delta_error}});
  }
  std::printf("merged %zu adapter modules (r %lld, alpha %g%s) into %s: %lld re-quantized (worst loss of an adapter's "
              "change %.1f%%), %lld exact; written to %s\n",
              reports.size(), static_cast<long long>(adapter.config.r), adapter.config.lora_alpha,
              adapter.config.use_rslora ? ", rsLoRA" : "", model_path.c_str(), static_cast<long long>(requantized),
              100 * worst, static_cast<long long>(reports.size()) - static_cast<long long>(requantized),
              out_dir.c_str());
  if (!json_path.empty())
    write_file_atomic(json_path, nlohmann::json{{"model", model_path}, {"adapter", adapter_dir}, {"out", out_dir},
                                                {"tensors", tensors}}.dump(2) + "\n");
  return 0;
}

}  // namespace slmkit::cli
