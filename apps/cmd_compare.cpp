// slmkit compare BASE MODEL...: one table (and plot) of size, perplexity, KL,
// zero-shot accuracy and speed for a model and its compressed variants.
#include <cstdio>
#include <filesystem>

#include <ATen/Parallel.h>

#include "cli.h"
#include "core/error.h"
#include "io/atomic_file.h"
#include "pipeline/compare.h"

namespace slmkit::cli {

int run_compare(const std::vector<std::string>& args) {
  CommonOptions common;
  std::vector<std::string> models;
  std::string labels_csv, tasks_csv, out_dir, text_path, cache_dir;
  CompareConfig cfg;
  bool no_speed = false, no_cache = false;
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
      ("no-cache", po::bool_switch(&no_cache), "evaluate everything again");
  add_common_options(desc, common);
  po::variables_map vm;
  if (!parse_args(args, "usage: slmkit compare BASE MODEL... [--tasks piqa,arc_easy] [--out DIR]", desc, "models", -1,
                  vm))
    return 0;
  apply_threads(common);
  cfg.text_path = text_path.empty() ? data_dir() + "/text/wikitext-2/wiki.test.raw" : text_path;
  cfg.tasks = split_commas(tasks_csv);
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
