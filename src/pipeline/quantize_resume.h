// `quantize --resume`: the progress of a run kept in <out>/.slmkit-resume/ so a
// killed run continues from its last finished block and writes the same bytes.
//
// After each block: layer-<i>.safetensors (that block's tensors as they now are),
// inputs-<i+1>.safetensors (the next block's calibration inputs), then state.json
// — written last and atomically, so it is the commit point: a kill at any moment
// leaves either the previous state or the new one, never a mix. The state carries
// a fingerprint of model + calibration windows + recipe, and a resume against a
// different job is refused.
#pragma once

#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "model/model.h"
#include "pipeline/quantize_model.h"

namespace slmkit {

// One tensor's report as JSON (the resume state and `quantize --json` share it).
nlohmann::json tensor_report_json(const TensorReport& report);

// Fingerprint of a quantization job: the model's tensors as loaded, the
// calibration windows and every recipe setting.
std::string quantize_job_fingerprint(const Model& model, const at::Tensor& windows, const QuantizeRecipe& recipe);

class QuantizeResumeStore : public BlockCheckpoint {
 public:
  // out_dir: the run's output directory.
  QuantizeResumeStore(std::string out_dir, std::string fingerprint);

  // Whether `out_dir` holds the progress of an interrupted run.
  static bool present(const std::string& out_dir);
  static std::string dir_of(const std::string& out_dir);  // <out>/.slmkit-resume

  // Throws Error when the saved progress belongs to another job or is damaged.
  int64_t restore(Model& model, at::Tensor* next_inputs, std::vector<TensorReport>* reports) override;
  void save(const Model& model, int64_t layer, const at::Tensor& next_inputs,
            const std::vector<TensorReport>& reports) override;
  // The output is written: the saved progress is no longer needed.
  void remove();

 private:
  std::string dir_;
  std::string fingerprint_;
};

}  // namespace slmkit
