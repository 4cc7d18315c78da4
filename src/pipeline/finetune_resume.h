// `finetune --resume`: the state of a training run kept in <out>/.slmkit-resume/
// so that a killed run continues from its last checkpoint and writes the same
// adapter bytes as an uninterrupted one.
//
// A checkpoint is state-<step>.safetensors (the adapter and AdamW's moments in
// float32) followed by state.json, written last and atomically: the commit
// point, so a kill at any moment leaves the previous checkpoint or the new one.
// state.json carries a fingerprint of student + teacher + training tokens +
// settings, and a resume against a different job is refused.
#pragma once

#include <string>

#include <ATen/ATen.h>

#include "model/model.h"
#include "pipeline/finetune.h"

namespace slmkit {

// Fingerprint of a fine-tuning job: the student's and teacher's tensors as
// loaded, the training tokens and every setting that changes the result.
std::string finetune_job_fingerprint(const Model& student, const Model* teacher, const at::Tensor& tokens,
                                     const FinetuneConfig& config);

class FinetuneResumeStore : public FinetuneCheckpoint {
 public:
  FinetuneResumeStore(std::string out_dir, std::string fingerprint);

  static bool present(const std::string& out_dir);  // an interrupted run's state is in out_dir
  static std::string dir_of(const std::string& out_dir);

  // Throws Error when the saved state belongs to another job or is damaged.
  bool restore(FinetuneState* state) override;
  void save(const FinetuneState& state) override;
  void remove();  // the output is written: the state is no longer needed

 private:
  std::string dir_;
  std::string fingerprint_;
};

}  // namespace slmkit
