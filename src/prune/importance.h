// Importance of the structures of one decoder block (KV groups and MLP
// channels, see structures.h), first per channel, then per structure:
//  * magnitude: Σ w² over the structure's weights (its squared weight norm).
//  * wanda (Sun et al. 2024, structured as in FLAP's Wanda-sp baseline):
//    Σ |W_ij|·‖X_j‖₂ over the structure's weights, X_j the input channel that
//    weight reads and ‖X_j‖₂ its norm over the calibration tokens.
//  * flap (An et al., AAAI 2024, "WIFV"): per input channel j of o_proj /
//    down_proj, the sample variance of X_j over the tokens × ‖W[:, j]‖². FLAP's
//    code squares the attention score before standardizing; we do the same.
// Attention channels are o_proj's input channels (= q_proj rows); each k/v row
// is shared by the `group` query heads of its KV group, so its score is split
// evenly over them. A structure's score is the mean of its channels' scores
// after standardizing them per layer and structure type (FLAP's global
// ranking): a KV group and an MLP channel are then compared per channel, which
// keeps a large KV group from looking important only because it is large.
#pragma once

#include <cstdint>
#include <string>

#include <ATen/ATen.h>

#include "prune/channel_moments.h"

namespace slmkit {

enum class StructureCriterion { kMagnitude, kWanda, kFlap };

// "magnitude" | "wanda" | "flap"; throws Error otherwise.
StructureCriterion parse_structure_criterion(const std::string& name);
const char* criterion_name(StructureCriterion c);

// One block's linears as dense [out, in] weights (any floating dtype); gate is
// undefined for GPT-2 (no gated MLP).
struct BlockWeights {
  at::Tensor q, k, v, o, gate, up, down;
};

// Calibration statistics of a block's four distinct linear inputs: the normed
// attention input (q/k/v), o_proj's input, the normed MLP input (gate/up) and
// down_proj's input. magnitude reads none, wanda all four, flap o_in and down_in.
struct BlockInputMoments {
  ChannelMoments attention_in, o_in, mlp_in, down_in;
};

struct ChannelScores {
  at::Tensor attention;  // float64 [heads·head_dim], one per o_proj input channel
  at::Tensor mlp;        // float64 [intermediate]
};

// Raw per-channel scores (higher = more important). Throws Error when the
// criterion needs statistics that are missing.
ChannelScores channel_scores(const BlockWeights& w, const BlockInputMoments& inputs, int64_t num_kv_heads,
                             int64_t head_dim, StructureCriterion criterion);

// (s − mean) / std over all entries (unbiased std, as torch.std); a constant
// vector standardizes to zeros.
at::Tensor standardize(const at::Tensor& scores);

// Mean over each KV group's group·head_dim consecutive channels → [num_kv_heads].
at::Tensor kv_group_scores(const at::Tensor& attention_channel_scores, int64_t num_kv_heads);

}  // namespace slmkit
