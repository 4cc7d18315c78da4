// Quantization recipes in YAML (configs/*.yaml), e.g.
//
//   method: gptq            # rtn | gptq | awq
//   bits: 4
//   group_size: 128         # -1 = per row
//   sym: false
//   act_order: true
//   static_groups: false
//   percdamp: 0.01
//   true_sequential: true
//   calibration: {samples: 128, seq_len: 0, seed: 0, text: path}   # all optional
//   overrides:              # first match wins; bits 16 keeps the tensor dense
//     - {pattern: 'mlp\.down_proj', bits: 8}
//     - {pattern: 'layers\.0\.', bits: 8, group_size: 64}
//
// Unknown keys are errors (a typo must not silently fall back to a default).
#pragma once

#include <string>

#include "pipeline/calibration.h"
#include "pipeline/quantize_model.h"

namespace YAML {
class Node;
}

namespace slmkit {

// Reads `path` into `recipe` and `calib`, changing only the keys the file sets.
void load_quantize_recipe(const std::string& path, QuantizeRecipe* recipe, CalibrationConfig* calib);

// The same keys from a YAML mapping already read (a pipeline step's settings);
// `where` starts every error message (file and step).
void read_quantize_recipe(const YAML::Node& root, const std::string& where, QuantizeRecipe* recipe,
                          CalibrationConfig* calib);

}  // namespace slmkit
