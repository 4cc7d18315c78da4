// slmkit prune MODEL --out DIR: structured (KV groups, MLP channels), depth
// (whole blocks) or unstructured / N:M pruning, saved as a dense checkpoint.
#include <cstdio>

#include <ATen/Parallel.h>

#include "cli.h"
#include "core/error.h"
#include "core/process_stats.h"
#include "eval/perplexity.h"
#include "io/atomic_file.h"
#include "io/mapped_file.h"
#include "model/checkpoint.h"
#include "model/raw_checkpoint.h"
#include "pipeline/calibration.h"
#include "pipeline/output_dir.h"
#include "pipeline/preflight.h"
#include "pipeline/prune_model.h"
#include "tokenizer/text_input.h"

namespace slmkit::cli {
namespace {

std::string table_help(const char* title, const std::vector<PruneOptionInfo>& rows) {
  std::string s = title;
  for (const auto& r : rows) s += cat("\n  ", r.name, ": ", r.summary);
  return s;
}

// "[0, 3]" for short lists, "42 channels" for long ones.
std::string removed_list(const std::vector<int64_t>& v, const char* unit) {
  if (v.size() > 8) return cat(v.size(), " ", unit);
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += cat(i ? ", " : "", v[i]);
  return s + "]";
}

void print_layer(const std::string& method, const LayerPruneReport& r) {
  if (method == "structured") {
    std::fprintf(stderr, "  layer %3lld  heads %lld -> %lld (kv %lld -> %lld)  channels %lld -> %lld  params %s -> %s",
                 static_cast<long long>(r.layer), static_cast<long long>(r.before.num_heads),
                 static_cast<long long>(r.after.num_heads), static_cast<long long>(r.before.num_kv_heads),
                 static_cast<long long>(r.after.num_kv_heads), static_cast<long long>(r.before.intermediate_size),
                 static_cast<long long>(r.after.intermediate_size), with_commas(r.params_before).c_str(),
                 with_commas(r.params_after).c_str());
    if (!r.removed_kv_groups.empty())
      std::fprintf(stderr, "  removed kv groups %s", removed_list(r.removed_kv_groups, "groups").c_str());
    std::fprintf(stderr, "  %.2f s\n", r.seconds);
  } else if (method == "layers") {
    std::fprintf(stderr, "  layer %3lld  block influence %.5f  %s  %.2f s\n", static_cast<long long>(r.layer),
                 r.block_influence, r.removed ? "REMOVED" : "kept", r.seconds);
  } else {
    std::fprintf(stderr, "  layer %3lld  zeros %s of %s (%.2f%%)  %.2f s\n", static_cast<long long>(r.layer),
                 with_commas(r.zeros).c_str(), with_commas(r.weights).c_str(),
                 r.weights > 0 ? 100.0 * static_cast<double>(r.zeros) / static_cast<double>(r.weights) : 0.0,
                 r.seconds);
  }
}

nlohmann::json layer_json(const LayerPruneReport& r) {
  auto dims = [](const LayerDims& d) {
    return nlohmann::json{{"num_attention_heads", d.num_heads}, {"num_key_value_heads", d.num_kv_heads},
                          {"intermediate_size", d.intermediate_size}};
  };
  return {{"layer", r.layer},
          {"before", dims(r.before)},
          {"after", dims(r.after)},
          {"removed_kv_groups", r.removed_kv_groups},
          {"removed_channels", r.removed_channels},
          {"removed_layer", r.removed},
          {"block_influence", r.block_influence},
          {"params_before", r.params_before},
          {"params_after", r.params_after},
          {"weights", r.weights},
          {"zeros", r.zeros},
          {"seconds", r.seconds}};
}

}  // namespace

int run_prune(const std::vector<std::string>& args) {
  CommonOptions common;
  std::string model_path, out_dir, json_path, allocation = "uniform", pattern;
  PruneRecipe recipe;
  CalibrationConfig calib;
  bool force = false, quiet = false, no_bias_compensation = false;
  po::options_description desc("prune options");
  desc.add_options()
      ("model", po::value<std::string>(&model_path)->required(), "checkpoint directory or file")
      ("out,o", po::value<std::string>(&out_dir)->required(), "output directory (Hugging Face safetensors)")
      ("method,m", po::value<std::string>(&recipe.method)->default_value("structured"),
       table_help("method:", prune_methods()).c_str())
      ("criterion,c", po::value<std::string>(&recipe.criterion),
       table_help("criterion (default: flap for structured, wanda for unstructured):", prune_criteria()).c_str())
      ("target-params", po::value<double>(&recipe.target_params)->default_value(0.8, "0.8"),
       "structured, layers: share of the decoder blocks' parameters to keep (embeddings and head excluded)")
      ("allocation", po::value<std::string>(&allocation)->default_value("uniform"),
       "structured: uniform (same shape every layer, standard config.json) or global (all layers ranked "
       "together; per-layer widths in config.json's slmkit_layer_dims)")
      ("min-kv-groups", po::value<int64_t>(&recipe.allocation.min_kv_groups)->default_value(1),
       "structured global: KV groups every layer keeps at least")
      ("min-channels", po::value<double>(&recipe.allocation.min_channel_fraction)->default_value(0.1, "0.1"),
       "structured global: share of each layer's MLP channels it keeps at least")
      ("max-keep", po::value<double>(&recipe.allocation.max_keep_fraction)->default_value(1.0, "1.0"),
       "structured global: share of each layer's KV groups and channels it keeps at most")
      ("no-bias-compensation", po::bool_switch(&no_bias_compensation),
       "structured flap: do not fold the removed channels' mean output into o_proj/down_proj biases")
      ("sparsity", po::value<double>(&recipe.sparsity.sparsity)->default_value(0.5, "0.5"),
       "unstructured: share of each linear's weights set to zero")
      ("pattern", po::value<std::string>(&pattern), "unstructured: N:M pattern instead, e.g. 2:4 (keep 2 of every 4)")
      ("block-size", po::value<int64_t>(&recipe.sparsegpt.block_size)->default_value(128),
       "sparsegpt: columns per lazy block / mask selection")
      ("percdamp", po::value<double>(&recipe.sparsegpt.percdamp)->default_value(0.01, "0.01"),
       "sparsegpt: damping, fraction of mean diag(H)")
      ("chunk", po::value<int64_t>(&recipe.chunk)->default_value(recipe.chunk),
       "calibration windows per forward call (memory vs speed)")
      ("force", po::bool_switch(&force),
       "overwrite an existing output directory; start even when the preflight estimate exceeds the free "
       "memory or disk")
      ("json", po::value<std::string>(&json_path), "write the per-layer report and summary as JSON")
      ("quiet,q", po::bool_switch(&quiet), "no per-layer lines");
  add_calibration_options(desc, calib);
  add_common_options(desc, common);
  po::variables_map vm;
  if (!parse_args(args,
                  "usage: slmkit prune MODEL --out DIR [--method structured|layers|unstructured] "
                  "[--criterion magnitude|wanda|flap|sparsegpt] [--target-params 0.8 | --sparsity 0.5 | --pattern 2:4]",
                  desc, "model", 1, vm))
    return 0;
  apply_threads(common);
  auto given = [&](const char* name) { return vm.count(name) && !vm[name].defaulted(); };
  const bool unstructured = recipe.method == "unstructured";
  SLMKIT_CHECK(!unstructured || !given("target-params"), "--target-params is for structured and layers pruning; ",
               "unstructured pruning takes --sparsity or --pattern");
  SLMKIT_CHECK(unstructured || (!given("sparsity") && !given("pattern")), "--sparsity and --pattern are for ",
               "--method unstructured; structured and layers pruning take --target-params");
  SLMKIT_CHECK(recipe.method == "structured" || !given("allocation"), "--allocation is for --method structured");
  recipe.allocation.mode = parse_allocation_mode(allocation);
  recipe.bias_compensation = !no_bias_compensation;
  recipe.sparsity.pattern = parse_nm_pattern(pattern);
  if (recipe.sparsity.pattern.enabled()) {
    SLMKIT_CHECK(!given("sparsity") || recipe.sparsity.sparsity == recipe.sparsity.pattern.sparsity(), "--sparsity ",
                 recipe.sparsity.sparsity, " contradicts --pattern ", pattern, " (", recipe.sparsity.pattern.sparsity(),
                 "); give one of them");
    recipe.sparsity.sparsity = recipe.sparsity.pattern.sparsity();
  }
  check_output_outside_input(model_path, out_dir);
  if (recipe.criterion.empty() && recipe.method != "layers")
    recipe.criterion = recipe.method == "structured" ? "flap" : "wanda";
  {
    // From the config alone, before any weight is loaded.
    const ModelConfig config = read_checkpoint(model_path).config;
    CalibrationShape shape;
    if (prune_needs_calibration(recipe))
      shape = {calib.samples, calib.seq_len > 0 ? calib.seq_len : std::min<int64_t>(2048, config.max_positions),
               recipe.chunk};
    const JobEstimate estimate =
        estimate_prune(config, shape, unstructured ? 1.0 : recipe.target_params,
                       common.dtype == "float32" || common.dtype == "fp32" ? 4 : 2, recipe.criterion == "sparsegpt");
    const AvailableResources available = measure_available(out_dir);
    std::fprintf(stderr, "%s\n", describe_preflight(estimate, available).c_str());
    check_resources(estimate, available, force);
  }
  prepare_output_dir(out_dir, force);

  auto model = load_model_for_cli(model_path, common);
  check_finite_weights(*model);
  at::Tensor windows;
  std::string calib_desc = "none (magnitude)";
  if (prune_needs_calibration(recipe)) {
    auto tokenizer = load_tokenizer_for_cli(model_path, common);
    check_tokenizer_fits_model(*tokenizer, model->config, model_path);
    windows = cli_calibration_windows(calib, *tokenizer, model->config);
    calib_desc = describe_calibration(calib);
  }
  const std::string what = unstructured ? cat("sparsity ", recipe.sparsity.effective_sparsity(),
                                              recipe.sparsity.pattern.enabled() ? " (" + pattern + ")" : "")
                                        : cat("keep ", recipe.target_params, " of the block parameters",
                                              recipe.method == "structured" ? ", allocation " + allocation : "");
  std::fprintf(stderr, "prune %s: %s/%s, %s, %lld layers | calibration %s | %d threads\n", model_path.c_str(),
               recipe.method.c_str(), recipe.criterion.empty() ? "block-influence" : recipe.criterion.c_str(),
               what.c_str(), static_cast<long long>(model->config.num_layers()), calib_desc.c_str(),
               at::get_num_threads());

  const PruneSummary summary = prune_model(*model, windows, recipe, [&](const PruneEvent& e) {
    if (quiet) return;
    if (e.layer != nullptr) print_layer(recipe.method, *e.layer);
    else std::fprintf(stderr, "  [%s] block %lld/%lld\n", e.stage, static_cast<long long>(e.done),
                      static_cast<long long>(e.total));
  });
  for (const std::string& note : summary.notes) std::fprintf(stderr, "note: %s\n", note.c_str());

  save_model(*model, out_dir);
  copy_tokenizer_files(model_path, out_dir);
  const double kept = summary.block_params_before > 0 ? static_cast<double>(summary.block_params_after) /
                                                            static_cast<double>(summary.block_params_before)
                                                      : 1.0;
  std::printf("pruned %s with %s/%s in %.1f s: block params %s -> %s (%.2f%% kept", model_path.c_str(),
              summary.method.c_str(), summary.criterion.c_str(), summary.seconds,
              with_commas(summary.block_params_before).c_str(), with_commas(summary.block_params_after).c_str(),
              100.0 * kept);
  if (summary.target_params > 0) std::printf("; target %s", with_commas(summary.target_params).c_str());
  std::printf("), model params %s -> %s", with_commas(summary.model_params_before).c_str(),
              with_commas(summary.model_params_after).c_str());
  if (unstructured) {
    int64_t zeros = 0, weights = 0;
    for (const auto& l : summary.layers) {
      zeros += l.zeros;
      weights += l.weights;
    }
    std::printf(", block linears %.2f%% zeros (stored dense)",
                weights > 0 ? 100.0 * static_cast<double>(zeros) / static_cast<double>(weights) : 0.0);
  }
  std::printf("%s%s; written to %s\n", summary.bias_compensation ? ", bias compensation" : "",
              summary.uniform_shape ? "" : ", per-layer widths (config.json slmkit_layer_dims)", out_dir.c_str());
  if (!json_path.empty()) {
    nlohmann::json layers = nlohmann::json::array();
    for (const auto& l : summary.layers) layers.push_back(layer_json(l));
    nlohmann::json j = {{"model", model_path}, {"out", out_dir}, {"method", summary.method},
                        {"criterion", summary.criterion}, {"target_fraction", recipe.target_params},
                        {"target_params", summary.target_params}, {"allocation", allocation},
                        {"sparsity", recipe.sparsity.effective_sparsity()}, {"pattern", pattern},
                        {"calibration", calibration_json(calib, windows.defined())},
                        {"block_params_before", summary.block_params_before},
                        {"block_params_after", summary.block_params_after},
                        {"model_params_before", summary.model_params_before},
                        {"model_params_after", summary.model_params_after},
                        {"bias_compensation", summary.bias_compensation}, {"uniform_shape", summary.uniform_shape},
                        {"notes", summary.notes}, {"seconds", summary.seconds}, {"peak_rss_bytes", peak_rss_bytes()},
                        {"threads", at::get_num_threads()}, {"layers", layers}};
    write_file_atomic(json_path, j.dump(2) + "\n");
  }
  return 0;
}

}  // namespace slmkit::cli
