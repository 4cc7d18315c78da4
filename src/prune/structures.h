// The prunable structures of a decoder block and what each costs in parameters.
//  * KV group j (GQA-aware): KV head j together with the `group = heads /
//    kv_heads` query heads that read it — k/v rows [j·hd, (j+1)·hd), q rows and
//    o_proj columns [j·group·hd, (j+1)·group·hd). Removing whole groups keeps
//    every remaining query head attached to its own KV head, so the pruned layer
//    is still ordinary grouped-query attention.
//  * MLP channel c: gate/up row c and down_proj column c.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/ATen.h>

#include "model/config.h"

namespace slmkit {

struct BlockCosts {
  int64_t kv_group = 0;  // one KV group: q/k/v rows, o_proj columns, q/k/v biases
  int64_t channel = 0;   // one MLP channel: gate/up rows, down_proj column, gate/up biases
  int64_t fixed = 0;     // what pruning never removes: norms, o_proj/down_proj biases

  int64_t params(int64_t kv_groups, int64_t channels) const {
    return fixed + kv_group * kv_groups + channel * channels;
  }
};

// Costs of layer `layer` with `config`'s bias flags (qkv_bias, o_bias, mlp_bias).
BlockCosts block_costs(const ModelConfig& config, int64_t layer);

// int64 row indices of q_proj (= column indices of o_proj) for the kept KV groups
// (ascending), `group` query heads per KV head.
at::Tensor query_channels(const std::vector<int64_t>& kv_groups, int64_t group, int64_t head_dim);
// int64 row indices of k_proj / v_proj for the kept KV groups.
at::Tensor kv_channels(const std::vector<int64_t>& kv_groups, int64_t head_dim);

}  // namespace slmkit
