// Models with real architectures' shapes and random weights, for speed and
// memory measurements where the values do not matter (benchmarks, `synth`).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/model.h"

namespace slmkit {

// Shape presets: "smollm2-135m", "tinyllama-1.1b", "stories260k", "mixed-en-13m".
ModelConfig preset_config(const std::string& name);
const std::vector<std::string>& preset_names();

// Random weights ~ N(0, 0.02²) (norm weights 1), deterministic for a seed.
Model synthesize_model(const ModelConfig& config, uint64_t seed, at::ScalarType dtype = at::kFloat);

}  // namespace slmkit
