// Runs pipeline recipes with every step's output cached by a hash of its inputs.
//
// A step's key hashes its kind (and version), its canonical settings and the
// keys of the models it reads. The pipeline's input model is keyed by its
// content (weights, config, tokenizer); a step's output model by the step's
// key — so keys chain, and a change anywhere re-runs that step and everything
// after it, nothing before. Outputs live in <out>/<name>-<key:12>/ with
// slmkit-step.json inside. A step runs in <out>/.work-<name>-<key:12>/; the
// marker is written last, then the folder is renamed into place, so a folder
// with a valid marker is always complete. A failing step removes its work folder
// (a resumable step keeps it and continues it next time) and never touches the
// folders of earlier steps. Re-running finds finished steps by key, whatever
// their name, so sweep variants that share a prefix share its outputs.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pipeline/compare.h"
#include "pipeline/pipeline_recipe.h"

namespace slmkit {

struct PipelineOptions {
  std::string out_dir;
  bool progress = true;                          // the steps' progress lines on stderr
  std::function<void(const std::string&)> log;   // one line per step event
};

struct StepOutcome {
  std::string name, kind, key, dir;
  bool produces_model = false;
  bool cached = false;
  double seconds = 0;        // time of the run that made the output (also when cached now)
  nlohmann::json report;     // what the step returned; report["summary"] is one line
};

struct ChainResult {
  std::vector<StepOutcome> steps;   // those finished (cached or run), in order
  std::string final_model;          // the last model step's folder, or the input
  double seconds = 0;               // wall time of this run
};

// The content key of a checkpoint: its weights, config.json and tokenizer files.
std::string input_model_key(const std::string& model_path);

// A pipeline recipe over `model_path`. Writes <out>/pipeline.json (also when a
// step fails, then with the error) and rethrows a step's failure as an Error
// naming the step. Refuses to run while another pipeline holds the folder.
ChainResult run_pipeline(const PipelineRecipe& recipe, const std::string& model_path, const PipelineOptions& options);

struct SweepResult {
  std::vector<std::pair<std::string, ChainResult>> variants;
  StepOutcome compare;              // the comparison step (its folder holds compare.{md,json,svg})
  std::vector<ModelRow> rows;
};

// A sweep: every variant's chain over `base`, then one comparison of the base,
// `extra` models and each variant's final model (labelled by the variant's name)
// with `compare`. A variant is compared as its last model: a checkpoint or, when
// an export step comes last, the exported file. Also writes
// <out>/compare.{md,json,svg} and <out>/sweep.json.
SweepResult run_sweep(const PipelineRecipe& recipe, const StepModel& base, const std::vector<StepModel>& extra,
                      const CompareSettings& compare, const PipelineOptions& options);

}  // namespace slmkit
