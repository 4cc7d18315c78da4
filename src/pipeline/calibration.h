// The calibration engine shared by every pass that needs activations
// (quantization now; pruning and low-rank later).
//
// It draws fixed-seed windows from a text, then walks the model one decoder
// block at a time keeping only that block's inputs [N, L, hidden] in memory. A
// pass observes each linear's inputs through a LinearTap while the block runs
// (possibly several times, e.g. once per true-sequential group), changes the
// block's weights, and then the block's outputs — computed with whatever weights
// the block has by then (GPTQ's sequential mode) or before any change (AWQ's
// full-precision propagation) — become the next block's inputs.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "model/forward.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace slmkit {

struct CalibrationConfig {
  std::string text_path;   // read as rows joined with "\n\n" (as GPTQ's wikitext2 loader does)
  int64_t samples = 128;   // windows
  int64_t seq_len = 0;     // tokens per window; 0 = min(2048, the model's max positions)
  uint64_t seed = 0;
  int64_t chunk = 8;       // windows per forward call while running a block (bounds activation memory)
};

// `samples` windows of `seq_len` tokens at uniformly random offsets (fixed seed)
// → int64 [samples, seq_len]. Throws Error if the text is shorter than one window.
at::Tensor draw_calibration_windows(const std::vector<int32_t>& tokens, int64_t samples, int64_t seq_len,
                                    uint64_t seed);

// The windows `calib` asks for, drawn from its text (read with the checks every
// input text gets; GPTQ's row joining) with `tokenizer` → int64 [samples, seq_len].
// seq_len 0 becomes min(2048, the model's max positions) and is written back.
at::Tensor calibration_windows(CalibrationConfig& calib, const Tokenizer& tokenizer, const ModelConfig& config);

// Σ x xᵀ (fp32, [in, in]), Σ |x| per channel and the token count of one linear's inputs.
// Pruning criteria also need per-channel moments: with `keep_moments` set before
// the first add(), Σ x and Σ x² per channel are kept in float64 (variances over
// many tokens lose too much in float32); with `keep_xtx` cleared the [in, in]
// product, the costly part, is skipped.
struct InputStats {
  at::Tensor xtx;
  at::Tensor abs_sum;
  int64_t tokens = 0;
  at::Tensor sum, sq_sum;  // float64 [in], only with keep_moments
  bool keep_xtx = true;
  bool keep_moments = false;

  void add(const at::Tensor& x);  // x [..., in]
  at::Tensor abs_mean() const { return abs_sum / static_cast<double>(tokens); }
};

class BlockRunner {
 public:
  // Embeds the windows; inputs() is then block 0's input.
  BlockRunner(const Model& model, const at::Tensor& windows, int64_t chunk);

  const at::Tensor& inputs() const { return inputs_; }  // [N, L, hidden]
  int64_t layer() const { return layer_; }

  // Runs the current block over all inputs (the model's current weights), calling
  // `tap` for each linear input; returns the outputs [N, L, hidden] when asked.
  at::Tensor run(const LinearTap* tap, bool keep_outputs) const;
  // Moves to the next block with `outputs` as its inputs.
  void advance(at::Tensor outputs);
  // Jumps to block `layer` with `inputs` (saved by an earlier run) as its inputs.
  void restart_at(int64_t layer, at::Tensor inputs);
  // Peak bytes of activations this runner holds (inputs + outputs), for the up-front estimate.
  int64_t activation_bytes() const;

 private:
  const Model& model_;
  int64_t chunk_;
  int64_t layer_ = 0;
  at::Tensor inputs_;
};

}  // namespace slmkit
