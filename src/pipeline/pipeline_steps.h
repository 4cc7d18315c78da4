// The step kinds of `slmkit pipeline` recipes, one row per kind in step_kinds().
//
// A row names the kind, says whether its output folder is a checkpoint the
// following steps read, and reads the step's YAML settings into a PreparedStep:
// every setting is checked when the recipe is loaded (before anything runs), the
// effective settings become one canonical line (what the cache key hashes), and
// `run` does the work into an empty folder. Adding a kind = one prepare function
// (read keys, build the pass's config, capture it in `run`) and one table row.
#pragma once

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "pipeline/calibration.h"
#include "pipeline/compare.h"

namespace slmkit {

// What a recipe's defaults are resolved against.
struct RecipeEnv {
  std::string data_dir;           // default calibration/perplexity texts and task files live under it
  std::string recipe_dir;         // relative `config:` files are found here
  CalibrationConfig calibration;  // the recipe-level calibration: every step's defaults
  int threads = 1;                // part of the key only where results depend on it (speed)
};

// One model a step may read: a label and its checkpoint folder.
struct StepModel {
  std::string label, path;
};

// What a running step is given.
struct StepRun {
  std::string input_model;         // the checkpoint the step reads (last model step's output, or the input)
  std::vector<StepModel> models;   // the pipeline's input and every model made before this step, oldest first
  std::string out_dir;             // an empty folder that becomes the step's output
  std::string cache_dir;           // evaluation results shared by all steps of one output folder
  bool progress = true;            // progress lines on stderr
};

struct PreparedStep {
  std::string canonical;  // every setting that changes the output, with its effective value
  // Writes into out_dir; returns a report (JSON object) whose "summary" string is
  // the step's line in the pipeline summary.
  std::function<nlohmann::json(const StepRun&)> run;
};

// A step's settings mapping. Remembers the keys a prepare function asked for;
// finish() rejects every other key, so a typo is an error and the list of
// allowed keys in the message is always the real one.
class StepSettings {
 public:
  StepSettings(YAML::Node node, std::string where);

  // Reads `key` into *out when present (returns whether it was); wrong types are errors.
  template <typename T>
  bool get(const char* key, T* out) {
    known_.insert(key);
    const YAML::Node& map = node_;  // const: a missing key must not be inserted
    const YAML::Node v = map[key];
    if (!v) return false;
    try {
      *out = v.as<T>();
    } catch (const YAML::Exception&) {
      throw_wrong_type(key, v);
    }
    return true;
  }
  bool has(const char* key) const {
    const YAML::Node& map = node_;
    return static_cast<bool>(map[key]);
  }
  // The mapping without `skip` (for readers that check their own keys); marks every key known.
  YAML::Node all_except(const char* skip);
  void finish() const;  // throws Error naming the first unknown key and the allowed ones
  const std::string& where() const { return where_; }

 private:
  [[noreturn]] void throw_wrong_type(const char* key, const YAML::Node& value) const;
  YAML::Node node_;
  std::string where_;
  std::set<std::string> known_;
  bool all_known_ = false;
};

// The models a step reads besides its settings (they enter its cache key).
enum class StepReads {
  kInput,             // the current model only
  kInputAndOriginal,  // also the pipeline's input (a distillation teacher: StepRun::models.front())
  kAllModels,         // every model so far, by label (a comparison)
};

struct StepKind {
  const char* name;
  const char* summary;     // for --help
  int version;             // bump when the step's output for the same settings changes (invalidates caches)
  bool produces_model;     // the output folder is a checkpoint the following steps read
  const char* model_file;  // else, a model file in the folder that comparisons evaluate ("" = none)
  StepReads reads;
  bool resumable;          // an interrupted run's work folder is kept and continued by the next run
  PreparedStep (*prepare)(StepSettings& settings, const RecipeEnv& env);
};

const std::vector<StepKind>& step_kinds();
// nullptr when no kind has that name.
const StepKind* find_step_kind(const std::string& name);

// The `calibration:` mapping (samples, seq_len, seed, text) on top of `defaults`.
CalibrationConfig read_calibration(const YAML::Node& node, const std::string& where, CalibrationConfig defaults);

// A comparison's settings (the compare step's keys; a sweep's `compare:` section).
struct CompareSettings {
  CompareConfig config;
  bool all_models = true;  // compare every model made so far (else: the input and the last model)
};
CompareSettings read_compare_settings(StepSettings& settings, const RecipeEnv& env);
// A compare step for the settings (tasks checked, files hashed into the canonical line).
PreparedStep make_compare_step(const CompareSettings& settings);

// The label of a model folder: its last path component ("models/x/" → "x").
std::string model_label(const std::string& path);

}  // namespace slmkit
