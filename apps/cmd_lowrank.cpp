// slmkit lowrank MODEL --out DIR: SVD-family factorization of the decoder
// blocks' linears (W ≈ B·A) to a global parameter target, saved as a factorized
// checkpoint (<name>.weight_a / .weight_b, config.json slmkit_low_rank).
#include <cmath>
#include <cstdio>
#include <optional>

#include <ATen/Parallel.h>

#include "cli.h"
#include "core/error.h"
#include "core/process_stats.h"
#include "eval/perplexity.h"
#include "io/atomic_file.h"
#include "io/mapped_file.h"
#include "model/checkpoint.h"
#include "pipeline/calibration.h"
#include "pipeline/lowrank_model.h"
#include "pipeline/output_dir.h"
#include "pipeline/progress.h"

namespace slmkit::cli {
namespace {

std::string methods_help() {
  std::string s = "method:";
  for (const auto& m : low_rank_methods()) s += cat("\n  ", m.name, ": ", m.summary);
  return s;
}

nlohmann::json linear_json(const LinearLowRankReport& r) {
  nlohmann::json j = {{"name", r.name},
                      {"out_features", r.out_features},
                      {"in_features", r.in_features},
                      {"rank", r.rank},
                      {"dense", r.rank == 0},
                      {"break_even_rank", r.break_even},
                      {"params_before", r.params_before},
                      {"params_after", r.params_after},
                      {"damp", r.damp},
                      {"dead_inputs", r.dead_inputs},
                      {"floored_channels", r.floored_channels},
                      {"seconds", r.seconds}};
  // JSON has no NaN: an uncalibrated run reports no error.
  j["relative_error"] = std::isfinite(r.relative_error) ? nlohmann::json(r.relative_error) : nlohmann::json();
  return j;
}

}  // namespace

int run_lowrank(const std::vector<std::string>& args) {
  CommonOptions common;
  std::string model_path, out_dir, json_path, rank_select = "error";
  LowRankRecipe recipe;
  CalibrationConfig calib;
  bool force = false, quiet = false, no_sequential = false, no_calib = false;
  po::options_description desc("lowrank options");
  desc.add_options()
      ("model", po::value<std::string>(&model_path)->required(), "checkpoint directory or file")
      ("out,o", po::value<std::string>(&out_dir)->required(),
       "output directory (safetensors with factorized linears, see docs/DESIGN.md)")
      ("method,m", po::value<std::string>(&recipe.method)->default_value("svd-llm"), methods_help().c_str())
      ("target", po::value<double>(&recipe.target)->default_value(0.8, "0.8"),
       "share of the decoder blocks' parameters to keep (embeddings and head excluded)")
      ("rank-select", po::value<std::string>(&rank_select)->default_value("error"),
       "per-layer ranks: error (greedy on each term's output error on the calibration inputs), energy (greedy on "
       "each term's share of the method's singular-value energy) or uniform (the same share of every layer's "
       "break-even rank, as SVD-LLM/ASVD)")
      ("min-rank", po::value<int64_t>(&recipe.ranks.min_rank)->default_value(1), "rank every factorized linear keeps at least")
      ("alpha", po::value<double>(&recipe.asvd.alpha)->default_value(0.5, "0.5"), "asvd: exponent of mean|x|")
      ("percdamp", po::value<double>(&recipe.svd_llm.whitening.percdamp)->default_value(0.0, "0"),
       "svd-llm: damping added to X^T X before Cholesky, fraction of its mean diagonal (raised automatically "
       "when the factorization fails)")
      ("update", po::bool_switch(&recipe.update),
       "refit each B in closed form (least squares) so the factorized layer reproduces the dense model's outputs "
       "from the inputs it gets")
      ("no-sequential", po::bool_switch(&no_sequential),
       "factorize every block on the dense model's activations (default: on the factorized model's, block by "
       "block and group by group)")
      ("no-calib", po::bool_switch(&no_calib),
       "svd with energy/uniform ranks: skip calibration (no output errors are reported)")
      ("chunk", po::value<int64_t>(&recipe.chunk)->default_value(recipe.chunk),
       "calibration windows per forward call (memory vs speed)")
      ("force", po::bool_switch(&force), "overwrite an existing output directory")
      ("json", po::value<std::string>(&json_path), "write the per-linear report and summary as JSON")
      ("quiet,q", po::bool_switch(&quiet), "no per-linear lines");
  add_calibration_options(desc, calib);
  add_common_options(desc, common);
  po::variables_map vm;
  if (!parse_args(args,
                  "usage: slmkit lowrank MODEL --out DIR [--method svd|asvd|svd-llm] [--target 0.8] "
                  "[--rank-select error|energy|uniform]",
                  desc, "model", 1, vm))
    return 0;
  apply_threads(common);
  recipe.ranks.mode = parse_rank_selection(rank_select);
  recipe.sequential = !no_sequential;
  bool known = false;
  for (const auto& m : low_rank_methods()) known = known || recipe.method == m.name;
  SLMKIT_CHECK(known, "unknown --method \"", recipe.method, "\" (expected svd, asvd or svd-llm)");
  SLMKIT_CHECK(std::isfinite(recipe.target) && recipe.target > 0 && recipe.target <= 1,
               "--target must be in (0, 1] (the share of the decoder blocks' parameters to keep), found ",
               recipe.target);
  SLMKIT_CHECK(!no_calib || !low_rank_needs_calibration(recipe), "--no-calib: ", recipe.method, " with ",
               rank_select, " ranks", recipe.update ? " and --update" : "", " needs calibration activations; only ",
               "plain svd with energy or uniform ranks can do without");
  prepare_output_dir(out_dir, force);

  auto model = load_model_for_cli(model_path, common);
  // Plain SVD needs no calibration, but with it every linear's output error is
  // measured and reported, which is what the methods are compared by.
  at::Tensor windows;
  std::string calib_desc = "none";
  if (low_rank_needs_calibration(recipe) || !no_calib) {
    auto tokenizer = load_tokenizer_for_cli(model_path, common);
    windows = cli_calibration_windows(calib, *tokenizer, model->config);
    calib_desc = describe_calibration(calib);
  }
  std::fprintf(stderr, "lowrank %s: %s, keep %.4g of the block parameters, ranks by %s%s%s, %lld layers | "
               "calibration %s | %d threads\n",
               model_path.c_str(), recipe.method.c_str(), recipe.target, rank_select.c_str(),
               recipe.sequential ? ", sequential" : "", recipe.update ? ", closed-form B update" : "",
               static_cast<long long>(model->config.num_layers()), calib_desc.c_str(), at::get_num_threads());

  const int64_t n_layers = model->config.num_layers();
  Progress statistics("lowrank statistics", n_layers, "blocks", !quiet);
  std::optional<Progress> factorizing;  // started when the second pass starts, so its ETA is its own
  const LowRankSummary summary = low_rank_model(*model, windows, recipe, [&](const LowRankEvent& e) {
    if (e.linear != nullptr) {
      if (quiet) return;
      const LinearLowRankReport& r = *e.linear;
      const std::string form = r.rank > 0 ? cat("rank ", r.rank, " (break-even ", r.break_even, ")") : "kept dense";
      std::fprintf(stderr, "  %-34s [%lld x %lld] %s  params %lld -> %lld", r.name.c_str(),
                   static_cast<long long>(r.out_features), static_cast<long long>(r.in_features), form.c_str(),
                   static_cast<long long>(r.params_before), static_cast<long long>(r.params_after));
      if (std::isfinite(r.relative_error)) std::fprintf(stderr, "  rel.err %.3e", r.relative_error);
      std::fprintf(stderr, "  %.2f s\n", r.seconds);
      return;
    }
    if (std::string(e.stage) == "statistics") {
      statistics.update(e.done);
      if (e.done == e.total) statistics.finish("ranks allocated");
    } else {
      if (!factorizing) factorizing.emplace("lowrank", n_layers, "blocks", !quiet);
      factorizing->update(e.done);
    }
  });
  if (factorizing) factorizing->finish();

  save_model(*model, out_dir);
  copy_tokenizer_files(model_path, out_dir);
  const double kept = static_cast<double>(summary.block_params_after) / static_cast<double>(summary.block_params_before);
  std::printf("factorized %s with %s (ranks by %s) in %.1f s: block params %s -> %s (%.2f%% kept; target %s), "
              "%lld linears factorized, %lld kept dense, model params %s -> %s; written to %s\n",
              model_path.c_str(), summary.method.c_str(), summary.rank_selection.c_str(), summary.seconds,
              with_commas(summary.block_params_before).c_str(), with_commas(summary.block_params_after).c_str(),
              100.0 * kept, with_commas(summary.target_params).c_str(), static_cast<long long>(summary.factorized),
              static_cast<long long>(summary.kept_dense), with_commas(summary.model_params_before).c_str(),
              with_commas(summary.model_params_after).c_str(), out_dir.c_str());
  if (!json_path.empty()) {
    nlohmann::json linears = nlohmann::json::array();
    for (const auto& r : summary.linears) linears.push_back(linear_json(r));
    nlohmann::json j = {{"model", model_path}, {"out", out_dir}, {"method", summary.method},
                        {"rank_selection", summary.rank_selection}, {"target_fraction", recipe.target},
                        {"target_params", summary.target_params}, {"sequential", recipe.sequential},
                        {"update", recipe.update}, {"min_rank", recipe.ranks.min_rank},
                        {"alpha", recipe.asvd.alpha}, {"percdamp", recipe.svd_llm.whitening.percdamp},
                        {"calibration", calibration_json(calib, windows.defined())},
                        {"block_params_before", summary.block_params_before},
                        {"block_params_after", summary.block_params_after},
                        {"model_params_before", summary.model_params_before},
                        {"model_params_after", summary.model_params_after},
                        {"factorized", summary.factorized}, {"kept_dense", summary.kept_dense},
                        {"statistics_seconds", summary.statistics_seconds}, {"block_seconds", summary.block_seconds},
                        {"seconds", summary.seconds}, {"peak_rss_bytes", peak_rss_bytes()},
                        {"threads", at::get_num_threads()}, {"linears", linears}};
    write_file_atomic(json_path, j.dump(2) + "\n");
  }
  return 0;
}

}  // namespace slmkit::cli
