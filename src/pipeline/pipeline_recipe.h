// Multi-step recipes for `slmkit pipeline` (configs/edge-4bit.yaml ...) and
// sweeps for `slmkit compare --sweep` (configs/quality-sweep.yaml):
//
//   description: GPTQ 4-bit, then a comparison with the original
//   model: ../shared/data/models/mixed-en-13m      # optional; --model wins
//   calibration: {samples: 128, seed: 0}           # defaults for every step
//   steps:                                         # a pipeline: one chain of steps
//     - name: gptq4                                # optional (default: the kind); names the output folder
//       quantize: {method: gptq, bits: 4, group_size: 32}
//     - compare: {tasks: [piqa], limit: 200}
//
//   variants:                                      # a sweep: several chains, then one comparison
//     - name: "${method}-${bits}"                  # every matrix variable must appear in the name
//       matrix: {method: [rtn, gptq], bits: [3, 4]}
//       steps: [{quantize: {method: "${method}", bits: "${bits}", group_size: 32}}]
//   compare: {tasks: [piqa], limit: 200}           # a sweep's comparison (compare step keys)
//
// Every step's settings are read and checked on load (step_kinds() in
// pipeline_steps.h), so a typo fails before hours of work, and errors name the
// file, the step and the key.
#pragma once

#include <string>
#include <vector>

#include "pipeline/pipeline_steps.h"

namespace slmkit {

struct PipelineStep {
  std::string name;               // unique within its chain; names the output folder
  const StepKind* kind = nullptr;
  PreparedStep prepared;
  std::string where;              // "file: step 2 (gptq4)", for messages
};

struct PipelineVariant {
  std::string name;
  std::vector<PipelineStep> steps;
};

struct PipelineRecipe {
  std::string path, description;
  std::string model;                       // the recipe's `model:` ("" = none)
  std::vector<PipelineStep> steps;         // a pipeline
  std::vector<PipelineVariant> variants;   // a sweep
  CompareSettings compare;                 // a sweep's comparison
  bool is_sweep() const { return !variants.empty(); }
};

// Where defaults come from: data_dir holds the default texts and tasks; threads
// enter the keys of steps whose results depend on them (speed).
struct RecipeContext {
  std::string data_dir;
  int threads = 1;
};

PipelineRecipe load_pipeline_recipe(const std::string& path, const RecipeContext& context);
// The same from text (`name` stands for the file in messages; relative `config:`
// files are looked up in `base_dir`).
PipelineRecipe parse_pipeline_recipe(const std::string& yaml, const std::string& name, const std::string& base_dir,
                                     const RecipeContext& context);

}  // namespace slmkit
