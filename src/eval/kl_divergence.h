// KL divergence and top-1 agreement of a model against its base on a text, as
// llama.cpp's --kl-divergence reports them. Windows are processed one at a
// time, so neither model's logits for the whole text are ever held in memory.
#pragma once

#include <cstdint>
#include <vector>

#include "eval/perplexity.h"
#include "model/model.h"

namespace slmkit {

struct KlStats {
  double mean_kl = 0;      // mean over scored tokens of KL(base ‖ model), nats
  double p99_kl = 0;       // 99th percentile of per-token KL
  double max_kl = 0;
  double top1_agreement = 0;  // fraction of tokens where both argmaxes agree
  int64_t tokens = 0;
  int64_t windows = 0;
  double seconds = 0;
};

// Scores the same windows/positions as evaluate_perplexity with `config`.
KlStats kl_divergence(const Model& base, const Model& model, const std::vector<int32_t>& tokens, int32_t bos_id,
                      const PerplexityConfig& config, const WindowProgress& progress = {});

}  // namespace slmkit
