// Factorized (low-rank) linears in checkpoints — an slmkit convention, since
// Hugging Face has no standard for it: a linear `<name>` with W ≈ B·A of rank r
// is stored as
//   <name>.weight_a  [r, in_features]   (applied first: h = x·Aᵀ)
//   <name>.weight_b  [out_features, r]  (then y = h·Bᵀ + bias)
//   <name>.bias      as for a dense linear
// in the model's dtype, and config.json lists every factorized linear with its
// rank in "slmkit_low_rank" ({"model.layers.3.mlp.up_proj": 57, ...}), so a
// reader can tell a factorized checkpoint before reading tensors. Dense linears
// keep their plain `.weight`. checkpoint.cpp dispatches here; this file holds
// the format rules.
#pragma once

#include <map>
#include <string>

#include <ATen/ATen.h>

#include "core/tensor_view.h"
#include "model/model.h"

namespace slmkit {

// Whether `suffix` is a low-rank factor ("weight_a", "weight_b").
bool is_low_rank_part(const std::string& suffix);

// Installs the factorized linears (linear name → suffix → tensor) in `m`,
// converted to m.dtype, and checks them against m.config.low_rank: every
// listed linear has both factors with ranks [r, ·] and [·, r] as listed, no
// linear has both a dense .weight and factors, and nothing unlisted is factorized.
// Shapes against the config are checked later by Model::finalize.
void load_low_rank_linears(Model& m, const std::map<std::string, std::map<std::string, TensorView>>& parts,
                           const std::string& source);

// Adds <linear>.weight_a / .weight_b to `out`.
void add_low_rank_tensors(const std::string& linear, const LowRankWeights& w, std::map<std::string, at::Tensor>& out);

// The slmkit_low_rank entry describing the model's linears as they are now.
// Throws Error for models whose layout cannot store factors (GPT-2's fused
// c_attn, a factorized tied lm_head).
std::map<std::string, int64_t> describe_low_rank(const Model& m);

}  // namespace slmkit
