// Per-layer ranks from one global parameter budget.
//
// Every layer offers its decomposition's terms in order (rank r keeps the
// first r). A layer costs r·(out + in) parameters while factorized and out·in
// when left dense; it is never factorized at a rank where that saves nothing
// (r ≥ out·in / (out + in), see break_even_rank): reaching that rank turns it
// dense, which is cheaper and exact.
//  * uniform: the same fraction of break-even everywhere (SVD-LLM's and ASVD's
//    "ratio" rule: r = ratio · out·in / (out + in)).
//  * greedy (energy / error): start every layer at min_rank, then repeatedly
//    give one more term to the layer whose next term has the largest value per
//    parameter, while the budget lasts. The values are a fraction of the layer's
//    total, so layers of different scales compare: "energy" = σ_i² / Σσ² of
//    the method's own matrix (W, W·S or W·L), "error" = the output error of the
//    term on the calibration inputs over ‖XWᵀ‖² (decomposition.h). For SVD-LLM
//    both are the same numbers (its whitened spectrum is the output error).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/ATen.h>

namespace slmkit {

enum class RankSelection { kUniform, kEnergy, kError };

// "uniform", "energy", "error" → the enum; Error for anything else.
RankSelection parse_rank_selection(const std::string& name);
const char* rank_selection_name(RankSelection s);

struct LayerSpectrum {
  int64_t out_features = 0, in_features = 0;
  at::Tensor values;  // float64 [k]: the value of each term in order (greedy modes; unused by uniform)
};

struct RankAllocationConfig {
  RankSelection mode = RankSelection::kError;
  int64_t min_rank = 1;  // every factorized layer keeps at least this many terms
};

struct LayerRank {
  int64_t rank = 0;    // terms kept; meaningless when dense
  bool dense = false;  // left as it is (the budget reached its break-even rank)
  int64_t params = 0;  // r·(out + in), or out·in when dense
};

struct RankAllocation {
  std::vector<LayerRank> layers;
  int64_t params = 0;  // Σ layers' params (≤ the budget)
};

// budget: parameters all these layers may take together. Throws Error when even
// min_rank everywhere does not fit; when the budget covers every layer dense,
// all stay dense.
RankAllocation allocate_ranks(const std::vector<LayerSpectrum>& layers, int64_t budget,
                              const RankAllocationConfig& config = {});

}  // namespace slmkit
