#include "lowrank/error_compensation.h"

#include <algorithm>

#include "core/error.h"
#include "lowrank/decomposition.h"
#include "lowrank/svd_llm.h"

namespace slmkit {

LoraDelta compensate_error(const at::Tensor& weight, const at::Tensor& compressed, const at::Tensor& gram,
                           const CompensationConfig& config, CompensationStats* stats) {
  SLMKIT_CHECK(config.rank >= 1, "compensation rank must be at least 1, found ", config.rank);
  SLMKIT_ASSERT(weight.dim() == 2 && compressed.sizes() == weight.sizes(), "compensate_error: W ", weight.sizes(),
                " and its compressed form ", compressed.sizes(), " must have one shape");
  const at::Tensor w = weight.to(at::kDouble), w_hat = compressed.to(at::kDouble);
  // Inputs never active in calibration (diag G = 0) carry no output error on
  // that data: fitting their columns would spend rank on a guess.
  const at::Tensor live = gram.diagonal().to(at::kDouble).ne(0);
  const at::Tensor error = (w - w_hat).mul(live.to(at::kDouble).unsqueeze(0));

  SvdLlmConfig svd_config;
  svd_config.whitening = config.whitening;
  SvdLlmStats svd_stats;
  const Decomposition d = decompose_svd_llm(error, gram, svd_config, &svd_stats);
  const int64_t rank = std::min(config.rank, d.terms());
  const LowRankWeights factors = truncate(d, rank);  // float64, E ≈ B·A

  LoraDelta delta;
  delta.a = factors.a.to(at::kFloat).contiguous();
  delta.b = factors.b.to(at::kFloat).contiguous();
  delta.scaling = 1;
  if (stats) {
    stats->rank = rank;
    stats->dead_inputs = svd_stats.dead_inputs;
    stats->damp = svd_stats.damp;
    stats->error_before = relative_output_error(w, w_hat, gram);
    // What is deployed: the float32 factors.
    stats->error_after =
        relative_output_error(w, w_hat + at::mm(delta.b.to(at::kDouble), delta.a.to(at::kDouble)), gram);
  }
  return delta;
}

}  // namespace slmkit
