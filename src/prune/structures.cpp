#include "prune/structures.h"

#include "core/error.h"

namespace slmkit {

BlockCosts block_costs(const ModelConfig& c, int64_t layer) {
  SLMKIT_ASSERT(layer >= 0 && layer < c.num_layers(), "no layer ", layer);
  const LayerDims& l = c.layers[static_cast<size_t>(layer)];
  const int64_t h = c.hidden_size, hd = c.head_dim, group = l.num_heads / l.num_kv_heads;
  const bool gpt2 = c.arch == Arch::kGPT2;
  BlockCosts k;
  k.kv_group = (2 * group + 2) * hd * h + (c.qkv_bias ? (group + 2) * hd : 0);
  k.channel = (gpt2 ? 2 : 3) * h + (c.mlp_bias ? (gpt2 ? 1 : 2) : 0);
  k.fixed = (gpt2 ? 4 : 2) * h + (c.o_bias ? h : 0) + (c.mlp_bias ? h : 0);
  return k;
}

at::Tensor query_channels(const std::vector<int64_t>& kv_groups, int64_t group, int64_t head_dim) {
  const int64_t width = group * head_dim;
  at::Tensor idx = at::empty({static_cast<int64_t>(kv_groups.size()) * width}, at::kLong);
  int64_t* p = idx.data_ptr<int64_t>();
  for (const int64_t g : kv_groups)
    for (int64_t i = 0; i < width; ++i) *p++ = g * width + i;
  return idx;
}

at::Tensor kv_channels(const std::vector<int64_t>& kv_groups, int64_t head_dim) {
  return query_channels(kv_groups, 1, head_dim);
}

}  // namespace slmkit
