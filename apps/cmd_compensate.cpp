// slmkit compensate MODEL --base ORIGINAL --out DIR: a low-rank correction of the
// compression error of every block linear (EoRA/LQER style, whitened by the
// calibration inputs), written as a PEFT LoRA adapter to deploy beside MODEL.
#include <cstdio>

#include <ATen/Parallel.h>

#include "cli.h"
#include "core/error.h"
#include "core/process_stats.h"
#include "eval/perplexity.h"
#include "io/atomic_file.h"
#include "io/mapped_file.h"
#include "pipeline/calibration.h"
#include "pipeline/compensate_model.h"
#include "pipeline/lora_adapter.h"
#include "pipeline/output_dir.h"
#include "pipeline/progress.h"

namespace slmkit::cli {
namespace {

at::ScalarType adapter_dtype(const std::string& name) {
  if (name == "float16" || name == "fp16") return at::kHalf;
  if (name == "bfloat16" || name == "bf16") return at::kBFloat16;
  if (name == "float32" || name == "fp32") return at::kFloat;
  throw Error(cat("--adapter-dtype ", name, " is not supported (float16, bfloat16 or float32)"));
}

int bits_of(at::ScalarType t) { return t == at::kFloat ? 32 : 16; }

}  // namespace

int run_compensate(const std::vector<std::string>& args) {
  CommonOptions common;
  std::string model_path, base_path, out_dir, json_path, dtype_name;
  CompensateRecipe recipe;
  CalibrationConfig calib;
  bool force = false, quiet = false;
  po::options_description desc("compensate options");
  desc.add_options()
      ("model", po::value<std::string>(&model_path)->required(), "the compressed (e.g. GPTQ-quantized) model")
      ("base", po::value<std::string>(&base_path)->required(), "the original model it was compressed from")
      ("out,o", po::value<std::string>(&out_dir)->required(), "output directory for the PEFT adapter")
      ("rank,r", po::value<int64_t>(&recipe.method.rank)->default_value(16), "rank of each correction")
      ("damp", po::value<double>(&recipe.method.whitening.percdamp)->default_value(0.01),
       "ridge on X^T X, fraction of its mean diagonal")
      ("adapter-dtype", po::value<std::string>(&dtype_name)->default_value("float16"),
       "how the factors are stored: float16, bfloat16 or float32 (the extra bits per weight follow)")
      ("chunk", po::value<int64_t>(&recipe.chunk)->default_value(recipe.chunk), "calibration windows per forward call")
      ("force", po::bool_switch(&force), "overwrite an existing output directory")
      ("json", po::value<std::string>(&json_path), "write the per-tensor report and summary as JSON")
      ("quiet,q", po::bool_switch(&quiet), "no per-tensor lines");
  add_calibration_options(desc, calib);
  add_common_options(desc, common);
  po::variables_map vm;
  if (!parse_args(args, "usage: slmkit compensate MODEL --base ORIGINAL --out ADAPTER_DIR [--rank 16]", desc, "model",
                  1, vm))
    return 0;
  apply_threads(common);
  const at::ScalarType dtype = adapter_dtype(dtype_name);
  SLMKIT_CHECK(recipe.method.rank >= 1, "--rank must be at least 1");
  SLMKIT_CHECK(recipe.method.whitening.percdamp >= 0, "--damp must be >= 0");
  prepare_output_dir(out_dir, force);

  auto model = load_model_for_cli(model_path, common);
  auto base = load_model_for_cli(base_path, common);
  auto tokenizer = load_tokenizer_for_cli(model_path, common);
  const at::Tensor windows = cli_calibration_windows(calib, *tokenizer, model->config);
  std::fprintf(stderr, "compensate %s against %s: rank %lld | calibration %s | %d threads\n", model_path.c_str(),
               base_path.c_str(), static_cast<long long>(recipe.method.rank), describe_calibration(calib).c_str(),
               at::get_num_threads());

  Progress progress("compensate", model->config.num_layers() * static_cast<int64_t>(model->block_linear_names().size()),
                    "tensors", !quiet);
  CompensateSummary summary =
      compensate_model(*model, *base, windows, recipe, [&](const CompensationReport& r, int64_t done, int64_t total) {
        if (!quiet)
          std::fprintf(stderr, "  %-40s [%lld x %lld] %-9s rank %lld  output error %.3e -> %.3e  %.2f s  (%lld/%lld)\n",
                       r.name.c_str(), static_cast<long long>(r.out_features), static_cast<long long>(r.in_features),
                       r.form.c_str(), static_cast<long long>(r.stats.rank), r.stats.error_before,
                       r.stats.error_after, r.seconds, static_cast<long long>(done), static_cast<long long>(total));
        progress.update(done);
      });
  progress.finish();
  summary.adapter.config.base_model_name_or_path = base_path;
  const double extra_bits = summary.extra_bits_per_weight * bits_of(dtype) / 16.0;
  save_lora_adapter(out_dir, summary.adapter, dtype,
                    {{"slmkit.compensation", cat("rank=", recipe.method.rank, " damp=", recipe.method.whitening.percdamp,
                                                 " calib=", calib.text_path, " samples=", calib.samples, " seq_len=",
                                                 calib.seq_len, " seed=", calib.seed)},
                     {"slmkit.compressed_model", model_path}});
  double before = 0, after = 0;
  for (const auto& r : summary.tensors) {
    before += r.stats.error_before;
    after += r.stats.error_after;
  }
  const double n = static_cast<double>(summary.tensors.size());
  std::printf("compensated %zu linears of %s at rank %lld in %.1f s: mean relative output error %.3e -> %.3e; "
              "adapter %s parameters = %.3f extra bits per compensated weight (%s); written to %s\n",
              summary.tensors.size(), model_path.c_str(), static_cast<long long>(recipe.method.rank), summary.seconds,
              before / n, after / n, with_commas(summary.adapter_parameters).c_str(), extra_bits, dtype_name.c_str(),
              out_dir.c_str());
  if (!json_path.empty()) {
    nlohmann::json tensors = nlohmann::json::array();
    for (const auto& r : summary.tensors)
      tensors.push_back({{"name", r.name}, {"out", r.out_features}, {"in", r.in_features}, {"form", r.form},
                         {"rank", r.stats.rank}, {"error_before", r.stats.error_before},
                         {"error_after", r.stats.error_after}, {"dead_inputs", r.stats.dead_inputs},
                         {"damp", r.stats.damp}, {"seconds", r.seconds}});
    const nlohmann::json j = {{"model", model_path}, {"base", base_path}, {"out", out_dir},
                              {"rank", recipe.method.rank}, {"damp", recipe.method.whitening.percdamp},
                              {"adapter_dtype", dtype_name}, {"adapter_parameters", summary.adapter_parameters},
                              {"compensated_weights", summary.compensated_weights},
                              {"extra_bits_per_weight", extra_bits},
                              {"calibration", calibration_json(calib)},
                              {"seconds", summary.seconds}, {"peak_rss_bytes", peak_rss_bytes()},
                              {"tensors", tensors}};
    write_file_atomic(json_path, j.dump(2) + "\n");
  }
  return 0;
}

}  // namespace slmkit::cli
