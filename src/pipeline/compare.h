// `slmkit compare`: evaluates a base model and its compressed variants on the
// same measurements and renders the comparison (Markdown table, JSON, SVG plot).
// Each model's results are cached under a key made of the model's bytes and the
// evaluation settings, so re-running a comparison only evaluates what changed.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace slmkit {

struct CompareConfig {
  std::string text_path;             // perplexity text (GPTQ protocol at the model's context)
  int64_t max_windows = 0;           // perplexity windows (0 = all)
  int64_t kl_windows = 64;           // KL(base ‖ model) over the first N windows
  std::vector<std::string> tasks;    // zero-shot tasks (empty = none)
  std::string tasks_dir;             // where the task files are
  int64_t task_limit = 0;            // documents per task (0 = all)
  bool speed = true;                 // prefill/decode tokens/s with the reference forward
  int threads = 1;
  std::string cache_dir;             // "" = no cache
};

// One model's row. Missing measurements are NaN.
struct ModelRow {
  std::string path, label;
  bool is_base = false;
  int64_t disk_bytes = 0;         // checkpoint files on disk
  int64_t parameters = 0;         // stored parameters (pruned models have fewer)
  double bits_per_weight = 0;     // storage of the block linears / weights they represent
  double perplexity = 0;
  double kl_mean = 0, kl_p99 = 0, top1 = 0;
  std::map<std::string, double> task_acc;  // the task's usual metric (acc or acc_norm)
  double prefill_tps = 0, decode_tps = 0;
  bool from_cache = false;
  double seconds = 0;             // evaluation time (0 when cached)
};

nlohmann::json to_json(const ModelRow& row);
ModelRow row_from_json(const nlohmann::json& j);

// Evaluates every model (paths[0] is the base) with `progress` told what runs.
std::vector<ModelRow> compare_models(const std::vector<std::string>& paths, const std::vector<std::string>& labels,
                                     const CompareConfig& config,
                                     const std::function<void(const std::string&)>& progress = {});

// A hash of a checkpoint's weights and config.json (tokenizer files excluded):
// the identity of a model in the caches.
std::string model_fingerprint(const std::string& path);

// The report files' contents. The Markdown ends with the Pareto-optimal models
// (size on disk vs perplexity and vs mean accuracy); the plot rings them.
std::string compare_markdown(const std::vector<ModelRow>& rows, const CompareConfig& config);
std::string compare_svg(const std::vector<ModelRow>& rows, const std::string& title);

}  // namespace slmkit
