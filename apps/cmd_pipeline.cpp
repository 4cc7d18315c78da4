// slmkit pipeline RECIPE --model DIR --out DIR: a multi-step recipe (configs/*.yaml)
// over one model, every step's output cached by a hash of its inputs.
#include <cmath>
#include <cstdio>

#include <ATen/Parallel.h>

#include "cli.h"
#include "core/error.h"
#include "io/mapped_file.h"
#include "pipeline/pipeline_recipe.h"
#include "pipeline/pipeline_runner.h"
#include "pipeline/progress.h"

namespace slmkit::cli {
namespace {

std::string step_kinds_help() {
  std::string s = "step kinds:";
  for (const auto& k : step_kinds()) s += cat("\n  ", k.name, ": ", k.summary);
  return s;
}

void print_summary(const std::string& title, const ChainResult& r) {
  int cached = 0;
  for (const auto& s : r.steps) cached += s.cached ? 1 : 0;
  std::printf("%s: %zu steps (%d ran, %d cached) in %s\n", title.c_str(), r.steps.size(),
              static_cast<int>(r.steps.size()) - cached, cached, format_duration(r.seconds).c_str());
  for (size_t i = 0; i < r.steps.size(); ++i) {
    const StepOutcome& s = r.steps[i];
    std::printf("  %zu. %-14s %-9s %-7s %8s  %s\n     %s\n", i + 1, s.name.c_str(), s.kind.c_str(),
                s.cached ? "cached" : "ran", format_duration(s.seconds).c_str(), s.dir.c_str(),
                s.report.value("summary", std::string()).c_str());
  }
}

}  // namespace

int run_pipeline(const std::vector<std::string>& args) {
  CommonOptions common;
  std::string recipe_path, model_path, out_dir;
  bool quiet = false;
  po::options_description desc("pipeline options");
  desc.add_options()
      ("recipe", po::value<std::string>(&recipe_path)->required(), "YAML recipe (configs/edge-4bit.yaml, ...)")
      ("model,m", po::value<std::string>(&model_path), "input checkpoint (default: the recipe's model:)")
      ("out,o", po::value<std::string>(&out_dir)->required(),
       "output folder: one subfolder per step (<name>-<key>), pipeline.json; reused as the cache")
      ("quiet,q", po::bool_switch(&quiet), "no per-step progress bars");
  add_common_options(desc, common);
  po::variables_map vm;
  const std::string usage = cat("usage: slmkit pipeline RECIPE.yaml [--model DIR] --out DIR\n\n"
                                "A recipe is a chain of steps (configs/edge-4bit.yaml) or a sweep of variants\n"
                                "(configs/quality-sweep.yaml); see src/pipeline/pipeline_recipe.h for the format.\n",
                                step_kinds_help());
  if (!parse_args(args, usage.c_str(), desc, "recipe", 1, vm)) return 0;
  SLMKIT_CHECK(common.dtype == "float32" && common.tokenizer.empty(), "pipeline: --dtype and --tokenizer do not ",
               "apply: every step loads its input in float32 with the tokenizer beside it");
  apply_threads(common);
  const PipelineRecipe recipe = load_pipeline_recipe(recipe_path, {data_dir(), at::get_num_threads()});
  if (model_path.empty()) model_path = recipe.model;
  SLMKIT_CHECK(!model_path.empty(), recipe_path, " names no model: pass --model DIR");
  PipelineOptions options;
  options.out_dir = out_dir;
  options.progress = !quiet;
  options.log = [](const std::string& line) { std::fprintf(stderr, "[pipeline] %s\n", line.c_str()); };
  if (recipe.is_sweep()) {
    const SweepResult r = run_sweep(recipe, {model_label(model_path), model_path}, {}, recipe.compare, options);
    for (const auto& [name, chain] : r.variants) print_summary("variant " + name, chain);
    std::printf("\n%s", read_text_file(out_dir + "/compare.md").c_str());
    std::printf("wrote %s/compare.{md,json,svg}\n", out_dir.c_str());
    return 0;
  }
  std::fprintf(stderr, "[pipeline] %s on %s: %zu steps -> %s%s%s\n", recipe_path.c_str(), model_path.c_str(),
               recipe.steps.size(), out_dir.c_str(), recipe.description.empty() ? "" : "\n[pipeline] ",
               recipe.description.c_str());
  const ChainResult r = slmkit::run_pipeline(recipe, model_path, options);
  print_summary(cat("pipeline ", recipe_path, " on ", model_path), r);
  std::printf("final model: %s\n", r.final_model.c_str());
  // The last comparison's table, if the recipe has one.
  for (auto it = r.steps.rbegin(); it != r.steps.rend(); ++it)
    if (it->kind == "compare") {
      std::printf("\n%s", read_text_file(it->dir + "/compare.md").c_str());
      break;
    }
  return 0;
}

}  // namespace slmkit::cli
