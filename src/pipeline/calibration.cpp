#include "pipeline/calibration.h"

#include <algorithm>
#include <random>

#include <c10/core/InferenceMode.h>

#include "core/error.h"
#include "eval/perplexity.h"
#include "tokenizer/text_input.h"

namespace slmkit {

at::Tensor draw_calibration_windows(const std::vector<int32_t>& tokens, int64_t samples, int64_t seq_len,
                                    uint64_t seed) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  SLMKIT_CHECK(samples > 0 && seq_len > 1, "calibration needs samples > 0 and seq_len > 1 (found ", samples, ", ",
               seq_len, ")");
  SLMKIT_CHECK(n > seq_len, "the calibration text has ", n, " tokens, fewer than one window of ", seq_len,
               "; use a longer text or a shorter --calib-seq-len");
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int64_t> start(0, n - seq_len - 1);
  at::Tensor out = at::empty({samples, seq_len}, at::kLong);
  int64_t* p = out.data_ptr<int64_t>();
  for (int64_t s = 0; s < samples; ++s) {
    const int64_t i = start(rng);
    for (int64_t t = 0; t < seq_len; ++t) p[s * seq_len + t] = tokens[static_cast<size_t>(i + t)];
  }
  return out;
}

at::Tensor calibration_windows(CalibrationConfig& calib, const Tokenizer& tokenizer, const ModelConfig& config) {
  if (calib.seq_len == 0) calib.seq_len = std::min<int64_t>(2048, config.max_positions);
  const std::vector<int32_t> tokens =
      tokenize_for_perplexity(read_text_input(calib.text_path, "calibration text"), tokenizer, PplProtocol::kGPTQ);
  return draw_calibration_windows(tokens, calib.samples, calib.seq_len, calib.seed);
}

void InputStats::add(const at::Tensor& x) {
  const at::Tensor flat = x.reshape({-1, x.size(-1)}).to(at::kFloat);
  if (!abs_sum.defined()) {
    if (keep_xtx) xtx = at::zeros({flat.size(1), flat.size(1)}, at::kFloat);
    abs_sum = at::zeros({flat.size(1)}, at::kFloat);
    if (keep_moments) {
      sum = at::zeros({flat.size(1)}, at::kDouble);
      sq_sum = at::zeros({flat.size(1)}, at::kDouble);
    }
  }
  if (keep_xtx) xtx.addmm_(flat.t(), flat);
  abs_sum.add_(flat.abs().sum(0));
  if (keep_moments) {
    const at::Tensor flat64 = flat.to(at::kDouble);
    sum.add_(flat64.sum(0));
    sq_sum.add_(flat64.square().sum(0));
  }
  tokens += flat.size(0);
}

BlockRunner::BlockRunner(const Model& model, const at::Tensor& windows, int64_t chunk)
    : model_(model), chunk_(std::max<int64_t>(1, chunk)) {
  c10::InferenceMode guard;
  inputs_ = embed(model, windows, 0);
}

at::Tensor BlockRunner::run(const LinearTap* tap, bool keep_outputs) const {
  SLMKIT_ASSERT(layer_ < model_.config.num_layers(), "no block ", layer_);
  c10::InferenceMode guard;
  const int64_t n = inputs_.size(0);
  at::Tensor outputs = keep_outputs ? at::empty_like(inputs_) : at::Tensor();
  for (int64_t s = 0; s < n; s += chunk_) {
    const int64_t k = std::min(chunk_, n - s);
    const at::Tensor out = decoder_layer(model_, layer_, inputs_.narrow(0, s, k), 0, nullptr, tap);
    if (keep_outputs) outputs.narrow(0, s, k).copy_(out);
  }
  return outputs;
}

void BlockRunner::advance(at::Tensor outputs) {
  SLMKIT_ASSERT(outputs.sizes() == inputs_.sizes(), "block outputs must have the inputs' shape");
  inputs_ = std::move(outputs);
  ++layer_;
}

void BlockRunner::restart_at(int64_t layer, at::Tensor inputs) {
  SLMKIT_CHECK(layer >= 0 && layer < model_.config.num_layers(), "cannot restart calibration at block ", layer, " of ",
               model_.config.num_layers());
  SLMKIT_CHECK(inputs.sizes() == inputs_.sizes() && inputs.scalar_type() == inputs_.scalar_type(),
               "saved block inputs have shape ", inputs.sizes(), " ", inputs.scalar_type(), "; this run needs ",
               inputs_.sizes(), " ", inputs_.scalar_type());
  inputs_ = std::move(inputs);
  layer_ = layer;
}

int64_t BlockRunner::activation_bytes() const {
  return 2 * inputs_.numel() * static_cast<int64_t>(inputs_.element_size());
}

}  // namespace slmkit
