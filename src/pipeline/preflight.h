// Checks made before a long job starts (reliability.md §5.3, §6.2-6.3): the
// output must not lie inside the input model, the input weights must be finite,
// and the estimated peak memory and disk space must be available — a job that
// runs out of either after an hour loses the hour. The estimates come from the
// config alone (no weights loaded) and are deliberately on the high side.
#pragma once

#include <cstdint>
#include <string>

#include "model/config.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace slmkit {

struct JobEstimate {
  std::string job;               // "quantize", "prune", for messages
  int64_t runtime_bytes = 0;     // the process before any model: LibTorch, OpenBLAS, their buffers
  int64_t model_bytes = 0;       // the model in memory at the compute dtype
  int64_t activation_bytes = 0;  // calibration activations held between blocks (inputs + outputs)
  int64_t block_work_bytes = 0;  // the largest per-block working set: forward pass, Hessians, factorizations
  int64_t output_bytes = 0;      // written to the output directory
  int64_t checkpoint_bytes = 0;  // resume state kept beside the output while the job runs

  int64_t peak_memory_bytes() const { return runtime_bytes + model_bytes + activation_bytes + block_work_bytes; }
  int64_t disk_bytes() const { return output_bytes + checkpoint_bytes; }
};

// What a calibrated job will run over.
struct CalibrationShape {
  int64_t samples = 0;  // windows (0: no calibration)
  int64_t seq_len = 0;  // tokens per window
  int64_t chunk = 8;    // windows per forward call
};

// Weight-only quantization to `bits` with groups of `group_size` input columns
// (0 or less: one group per row), computing in `compute_bytes`-byte floats.
JobEstimate estimate_quantize(const ModelConfig& c, const CalibrationShape& calib, int bits, int64_t group_size,
                              int64_t compute_bytes, bool awq);
// Pruning that keeps `keep_fraction` of the block parameters (1: unstructured,
// stored dense); `hessians` when the criterion accumulates X·Xᵀ (SparseGPT).
JobEstimate estimate_prune(const ModelConfig& c, const CalibrationShape& calib, double keep_fraction,
                           int64_t compute_bytes, bool hessians);

// Free memory (MemAvailable, capped by a cgroup memory limit) and free disk space
// where `output_dir` is (or would be created); -1 where unknown. For tests,
// SLMKIT_TEST_AVAILABLE_MEMORY / SLMKIT_TEST_AVAILABLE_DISK (bytes) replace the measurement.
struct AvailableResources {
  int64_t memory_bytes = -1;
  int64_t disk_bytes = -1;
};
AvailableResources measure_available(const std::string& output_dir);

// The table printed before the job: each estimate next to what is available.
std::string describe_preflight(const JobEstimate& e, const AvailableResources& a);

// Throws Error naming what is short (with the estimate) when the peak memory or
// the disk space exceeds what is available, unless `force`.
void check_resources(const JobEstimate& e, const AvailableResources& a, bool force);

// Throws Error when `output_dir` is the input itself or lies inside the input
// model's directory (writing there could overwrite the files being read: the
// input is memory-mapped) — never overridable.
void check_output_outside_input(const std::string& model_path, const std::string& output_dir);

// Throws Error when the tokenizer can produce ids the model has no embedding row
// for (a tokenizer from another model), naming both sizes.
void check_tokenizer_fits_model(const Tokenizer& tokenizer, const ModelConfig& config, const std::string& model_path);

// Throws Error naming the first tensor (dense weights, norms, embeddings) holding
// NaN or Inf, with the count and the first flat index: a non-finite weight would
// spread through every Hessian and output of its block.
void check_finite_weights(const Model& model);

}  // namespace slmkit
