// Whole-model low-rank factorization (SVD family): every decoder-block linear
// W [out, in] becomes B·A of a rank chosen from one global parameter target, or
// stays dense where factorizing would not save anything.
//
// Two passes of the calibration engine:
//  1. statistics on the dense model (dense inputs everywhere): each linear is
//     decomposed once to learn what each extra rank is worth, and the ranks are
//     allocated for the whole model at once (rank_allocation.h);
//  2. factorization block by block. With `sequential` (the default), each block
//     sees the outputs of the already factorized blocks before it and each
//     group of linears ([q,k,v] → [o] → [gate,up] → [down]) the block as
//     factorized so far, as GPTQ does; otherwise every block is factorized on
//     the dense model's inputs (as the SVD-LLM and ASVD reference code do).
//     With `update`, B is then refitted in closed form so the factorized layer
//     reproduces the dense model's outputs from the inputs it really gets.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "lowrank/asvd.h"
#include "lowrank/rank_allocation.h"
#include "lowrank/svd_llm.h"
#include "model/model.h"

namespace slmkit {

// The methods `lowrank` offers; the table also drives --help.
struct LowRankMethodInfo {
  const char* name;
  const char* summary;
};
const std::vector<LowRankMethodInfo>& low_rank_methods();

struct LowRankRecipe {
  std::string method = "svd-llm";  // see low_rank_methods()
  double target = 0.8;             // share of the decoder blocks' parameters kept (embeddings, head excluded)
  RankAllocationConfig ranks;      // how ranks are chosen (default: greedy on output error), min rank
  AsvdConfig asvd;
  SvdLlmConfig svd_llm;
  bool sequential = true;  // factorize each block on the inputs the factorized model gives it
  bool update = false;     // closed-form refit of B towards the dense model's outputs (refit_b)
  int64_t chunk = 8;       // calibration windows per forward call
};

// Whether the recipe reads calibration activations (plain SVD with uniform or
// energy ranks and no update does not).
bool low_rank_needs_calibration(const LowRankRecipe& recipe);

struct LinearLowRankReport {
  std::string name;
  int64_t out_features = 0, in_features = 0;
  int64_t rank = 0;        // kept terms; 0 when left dense
  int64_t break_even = 0;  // largest rank that saves parameters
  int64_t params_before = 0, params_after = 0;  // weights only (a bias is unchanged)
  // ‖X(W − B·A)ᵀ‖² / ‖XWᵀ‖² on the calibration inputs the layer was factorized
  // with (the factorized model's inputs when sequential); NaN without calibration.
  double relative_error = 0;
  double damp = 0;              // SVD-LLM: damping added to XᵀX
  int64_t dead_inputs = 0;      // SVD-LLM: inputs never active in calibration
  int64_t floored_channels = 0; // ASVD: channels whose scale was raised to the floor
  double seconds = 0;
};

struct LowRankSummary {
  std::string method, rank_selection;
  int64_t block_params_before = 0, block_params_after = 0, target_params = 0;
  int64_t model_params_before = 0, model_params_after = 0;
  int64_t factorized = 0, kept_dense = 0;  // block linears
  std::vector<LinearLowRankReport> linears;
  std::vector<double> block_seconds;  // factorization pass, per block
  double statistics_seconds = 0;      // first pass (statistics, decompositions, allocation)
  double seconds = 0;
};

// What a progress callback hears: a stage ("statistics", "factorizing"), the
// blocks done of the total, and the report of a linear when one is finished.
struct LowRankEvent {
  const char* stage = "";
  int64_t done = 0, total = 0;
  const LinearLowRankReport* linear = nullptr;
};
using LowRankProgress = std::function<void(const LowRankEvent&)>;

// windows: int64 [N, L] calibration tokens; may be undefined when the recipe
// needs none (then no output errors are measured). Factorizes `model`'s block linears in place; the model stays valid and
// save_model writes it (factors as <name>.weight_a / .weight_b, see
// model/low_rank_checkpoint.h). Needs a llama-family model with dense linears.
LowRankSummary low_rank_model(Model& model, const at::Tensor& windows, const LowRankRecipe& recipe,
                              const LowRankProgress& progress = {});

}  // namespace slmkit
