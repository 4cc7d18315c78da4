// slmkit compare BASE MODEL...: one table (and plot) of size, perplexity, KL,
// zero-shot accuracy and speed for a model and its compressed variants.
#include <algorithm>
#include <cstdio>
#include <filesystem>

#include <ATen/Parallel.h>

#include "cli.h"
#include "core/error.h"
#include "io/atomic_file.h"
#include "io/mapped_file.h"
#include "pipeline/compare.h"
#include "pipeline/pipeline_recipe.h"
#include "pipeline/pipeline_runner.h"

namespace slmkit::cli {
namespace {

// --sweep FILE: the file's variants of BASE made through the cached pipeline
// runner in --out, then one comparison. Flags typed on the command line win over
// the file's compare: section.
int run_sweep_compare(const std::string& sweep_path, const std::vector<std::string>& models,
                      const std::vector<std::string>& labels, const std::string& out_dir, const po::variables_map& vm,
                      const CompareConfig& flags, const std::vector<std::string>& only, bool quiet) {
  SLMKIT_CHECK(!out_dir.empty(), "--sweep needs --out DIR (the variants and their cache live there)");
  auto given = [&](const char* name) { return vm.count(name) && !vm[name].defaulted(); };
  SLMKIT_CHECK(!given("cache") && !given("no-cache"), "--cache and --no-cache do not apply to --sweep: its cache is ",
               "the --out folder");
  SLMKIT_CHECK(labels.empty() || labels.size() == models.size(), "--labels has ", labels.size(), " names for ",
               models.size(), " models (BASE and the models given besides the sweep)");
  PipelineRecipe recipe = load_pipeline_recipe(sweep_path, {data_dir(), at::get_num_threads()});
  SLMKIT_CHECK(recipe.is_sweep(), sweep_path, " has no variants: it is a pipeline recipe; run it with slmkit pipeline");
  if (!only.empty()) {
    std::vector<PipelineVariant> kept;
    std::string names;
    for (const auto& v : recipe.variants) names += (names.empty() ? "" : ", ") + v.name;
    for (const auto& name : only) {
      auto it = std::find_if(recipe.variants.begin(), recipe.variants.end(),
                             [&](const PipelineVariant& v) { return v.name == name; });
      SLMKIT_CHECK(it != recipe.variants.end(), "--variants: ", sweep_path, " has no variant \"", name,
                   "\" (it has: ", names, ")");
      kept.push_back(*it);
    }
    recipe.variants = kept;
  }
  CompareSettings settings = recipe.compare;
  if (given("text")) settings.config.text_path = flags.text_path;
  if (given("max-windows")) settings.config.max_windows = flags.max_windows;
  if (given("kl-windows")) settings.config.kl_windows = flags.kl_windows;
  if (given("tasks")) settings.config.tasks = flags.tasks;
  if (given("limit")) settings.config.task_limit = flags.task_limit;
  if (given("no-speed")) settings.config.speed = false;
  std::vector<StepModel> extra;
  for (size_t i = 1; i < models.size(); ++i) extra.push_back({labels.empty() ? model_label(models[i]) : labels[i], models[i]});
  PipelineOptions options;
  options.out_dir = out_dir;
  options.progress = !quiet;
  options.log = [](const std::string& line) { std::fprintf(stderr, "[sweep] %s\n", line.c_str()); };
  const StepModel base{labels.empty() ? model_label(models[0]) : labels[0], models[0]};
  const SweepResult r = run_sweep(recipe, base, extra, settings, options);
  int ran = 0, cached = 0;
  for (const auto& [name, chain] : r.variants)
    for (const auto& s : chain.steps) (s.cached ? cached : ran)++;
  std::printf("%s", read_text_file(out_dir + "/compare.md").c_str());
  std::fprintf(stderr, "sweep %s: %zu variants (%d steps ran, %d cached); wrote %s/compare.{md,json,svg}\n",
               sweep_path.c_str(), r.variants.size(), ran, cached, out_dir.c_str());
  return 0;
}

}  // namespace

int run_compare(const std::vector<std::string>& args) {
  CommonOptions common;
  std::vector<std::string> models;
  std::string labels_csv, tasks_csv, out_dir, text_path, cache_dir;
  CompareConfig cfg;
  std::string sweep_path, variants_csv;
  bool no_speed = false, no_cache = false, quiet = false;
  po::options_description desc("compare options");
  desc.add_options()
      ("models", po::value<std::vector<std::string>>(&models)->required(), "BASE MODEL... (checkpoint directories)")
      ("labels", po::value<std::string>(&labels_csv), "comma-separated names for the models (default: folder names)")
      ("text", po::value<std::string>(&text_path), "perplexity text (default: $SLMKIT_DATA/text/wikitext-2/wiki.test.raw)")
      ("max-windows", po::value<int64_t>(&cfg.max_windows)->default_value(0), "perplexity windows (0 = all)")
      ("kl-windows", po::value<int64_t>(&cfg.kl_windows)->default_value(64), "KL over the first N windows (0 = skip)")
      ("tasks", po::value<std::string>(&tasks_csv), "zero-shot tasks, e.g. piqa,arc_easy,lambada_openai")
      ("limit", po::value<int64_t>(&cfg.task_limit)->default_value(0), "documents per task (0 = all)")
      ("no-speed", po::bool_switch(&no_speed), "skip the prefill/decode speed measurement")
      ("out,o", po::value<std::string>(&out_dir), "write compare.md, compare.json and compare.svg here")
      ("cache", po::value<std::string>(&cache_dir),
       "cache of evaluation results (default: OUT/.cache, else ~/.cache/slmkit/compare)")
      ("no-cache", po::bool_switch(&no_cache), "evaluate everything again")
      ("sweep", po::value<std::string>(&sweep_path),
       "YAML sweep (configs/quality-sweep.yaml): make its variants of BASE in --out (cached per step), then compare "
       "BASE, any MODELs given and every variant; flags given here override the file's compare: section")
      ("variants", po::value<std::string>(&variants_csv), "with --sweep: only these variants (comma-separated names)")
      ("quiet,q", po::bool_switch(&quiet), "with --sweep: no per-step progress bars");
  add_common_options(desc, common);
  po::variables_map vm;
  if (!parse_args(args,
                  "usage: slmkit compare BASE MODEL... [--tasks piqa,arc_easy] [--out DIR]\n"
                  "       slmkit compare BASE [MODEL...] --sweep configs/quality-sweep.yaml --out DIR",
                  desc, "models", -1, vm))
    return 0;
  apply_threads(common);
  cfg.text_path = text_path.empty() ? data_dir() + "/text/wikitext-2/wiki.test.raw" : text_path;
  cfg.tasks = split_commas(tasks_csv);
  if (!sweep_path.empty()) return run_sweep_compare(sweep_path, models, split_commas(labels_csv), out_dir, vm, cfg,
                                                     split_commas(variants_csv), quiet);
  cfg.tasks_dir = data_dir() + "/tasks";
  cfg.speed = !no_speed;
  cfg.threads = at::get_num_threads();
  if (!no_cache) {
    const char* home = std::getenv("HOME");
    cfg.cache_dir = !cache_dir.empty() ? cache_dir
                    : !out_dir.empty() ? out_dir + "/.cache"
                    : home             ? std::string(home) + "/.cache/slmkit/compare"
                                       : "";
  }
  SLMKIT_CHECK(cfg.max_windows >= 0 && cfg.kl_windows >= 0 && cfg.task_limit >= 0,
               "--max-windows, --kl-windows and --limit must be >= 0");
  const auto rows = compare_models(models, split_commas(labels_csv), cfg,
                                   [](const std::string& s) { std::fprintf(stderr, "[compare] %s\n", s.c_str()); });
  const std::string md = compare_markdown(rows, cfg);
  std::printf("%s", md.c_str());
  if (!out_dir.empty()) {
    std::filesystem::create_directories(out_dir);
    nlohmann::json j = nlohmann::json::array();
    for (const auto& r : rows) j.push_back(to_json(r));
    write_file_atomic(out_dir + "/compare.md", md);
    write_file_atomic(out_dir + "/compare.json", j.dump(2) + "\n");
    write_file_atomic(out_dir + "/compare.svg", compare_svg(rows, "slmkit compare: " + rows.front().label + " and variants"));
    std::fprintf(stderr, "wrote %s/compare.{md,json,svg}\n", out_dir.c_str());
  }
  return 0;
}

}  // namespace slmkit::cli
