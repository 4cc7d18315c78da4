// Which structures each layer keeps so that the decoder blocks reach a
// parameter target:
//  * uniform: the same fraction in every layer — KV groups rounded to whole
//    groups, then MLP channels sized so the total lands on the target (to
//    within half a channel per layer). Every layer keeps the same shape, so the
//    checkpoint keeps the standard config.json.
//  * global: all structures of all layers ranked together by their
//    standardized score (importance.h), the least important removed first
//    while the total stays at or above the target, within per-layer bounds.
//    Layers end up with different widths (FLAP's "AL-AM").
// Within a layer the highest-scoring structures are kept in both modes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "prune/structures.h"

namespace slmkit {

struct LayerCandidates {
  at::Tensor kv_group_scores;  // float64 [kv_heads], higher = more important; undefined: attention is not pruned
  at::Tensor channel_scores;   // float64 [intermediate]
  int64_t kv_groups = 0;       // KV groups the layer has now
  BlockCosts costs;
};

enum class AllocationMode { kUniform, kGlobal };

// "uniform" | "global"; throws Error otherwise.
AllocationMode parse_allocation_mode(const std::string& name);

struct AllocationConfig {
  AllocationMode mode = AllocationMode::kUniform;
  int64_t min_kv_groups = 1;          // global: KV groups every layer keeps at least (every layer keeps ≥ 1 anyway)
  double min_channel_fraction = 0.1;  // global: share of a layer's MLP channels it keeps at least (≥ 1 channel)
  double max_keep_fraction = 1.0;     // global: share of a layer's KV groups and channels it keeps at most
};

struct LayerKeep {
  std::vector<int64_t> kv_groups;  // kept KV groups, ascending
  std::vector<int64_t> channels;   // kept MLP channels, ascending
};

struct Allocation {
  std::vector<LayerKeep> layers;
  int64_t params = 0;  // block parameters the kept structures add up to (BlockCosts)
};

// target_params: decoder-block parameters to keep in total. Bounds make the
// target unreachable when it is below what every layer must keep; the result
// is then the smallest allowed model (params says what was reached).
Allocation allocate_structures(const std::vector<LayerCandidates>& layers, int64_t target_params,
                               const AllocationConfig& config);

}  // namespace slmkit
