#include "prune/structured.h"

#include "core/error.h"
#include "prune/structures.h"

namespace slmkit {
namespace {

at::Tensor dense_weight_of(const Model& m, const std::string& name) {
  const Linear& l = m.linear(name);
  SLMKIT_CHECK(l.is_dense(), name, " is ", l.is_quantized() ? "quantized" : "low-rank (factorized)",
               "; structured pruning needs dense weights (prune before quantizing or factorizing)");
  return l.dense_weight();
}

// The int64 indices in [0, n) that are not in `kept` (ascending).
at::Tensor complement(const at::Tensor& kept, int64_t n) {
  at::Tensor mask = at::ones({n}, at::kBool);
  mask.index_fill_(0, kept, false);
  return mask.nonzero().view({-1});
}

void select_rows(Model& m, const std::string& name, const at::Tensor& rows) {
  Linear& l = m.linear(name);
  const at::Tensor w = dense_weight_of(m, name);
  l.weights = DenseWeights{w.index_select(0, rows).contiguous()};
  if (l.bias.defined()) l.bias = l.bias.index_select(0, rows).contiguous();
}

// Keeps columns `cols`; with an input mean the removed columns' mean output goes into the bias.
void select_columns(Model& m, const std::string& name, const at::Tensor& cols, const at::Tensor& input_mean) {
  Linear& l = m.linear(name);
  const at::Tensor w = dense_weight_of(m, name);
  if (input_mean.defined()) {
    SLMKIT_ASSERT(input_mean.numel() == w.size(1), "input mean of ", name, " has ", input_mean.numel(), " entries");
    const at::Tensor removed = complement(cols, w.size(1));
    if (removed.numel() > 0) {
      at::Tensor extra = removed_channels_bias(w, input_mean, removed);
      if (l.bias.defined()) extra += l.bias.to(at::kDouble);
      l.bias = extra.to(w.scalar_type());
    }
  }
  l.weights = DenseWeights{w.index_select(1, cols).contiguous()};
}

at::Tensor to_index(const std::vector<int64_t>& v) {
  return at::tensor(at::ArrayRef<int64_t>(v), at::kLong);
}

bool is_sorted_unique(const std::vector<int64_t>& v, int64_t n) {
  for (size_t i = 0; i < v.size(); ++i)
    if (v[i] < 0 || v[i] >= n || (i > 0 && v[i] <= v[i - 1])) return false;
  return true;
}

}  // namespace

at::Tensor removed_channels_bias(const at::Tensor& weight, const at::Tensor& input_mean, const at::Tensor& removed) {
  SLMKIT_ASSERT(weight.dim() == 2 && input_mean.dim() == 1 && input_mean.size(0) == weight.size(1), "shapes");
  return at::mv(weight.index_select(1, removed).to(at::kDouble), input_mean.to(at::kDouble).index_select(0, removed));
}

void prune_block_structures(Model& m, int64_t layer, const LayerKeep& keep, const at::Tensor& o_input_mean,
                            const at::Tensor& down_input_mean) {
  ModelConfig& c = m.config;
  SLMKIT_ASSERT(layer >= 0 && layer < c.num_layers(), "no layer ", layer);
  LayerDims& dims = c.layers[static_cast<size_t>(layer)];
  const std::string p = Model::layer_prefix(layer);
  SLMKIT_CHECK(!keep.kv_groups.empty() && !keep.channels.empty(), "layer ", layer,
               ": structured pruning must keep at least one KV group and one MLP channel");
  SLMKIT_ASSERT(is_sorted_unique(keep.kv_groups, dims.num_kv_heads), "layer ", layer, ": bad KV group list");
  SLMKIT_ASSERT(is_sorted_unique(keep.channels, dims.intermediate_size), "layer ", layer, ": bad channel list");
  const int64_t group = dims.num_heads / dims.num_kv_heads, hd = c.head_dim;

  if (static_cast<int64_t>(keep.kv_groups.size()) < dims.num_kv_heads) {
    const at::Tensor q_rows = query_channels(keep.kv_groups, group, hd);
    const at::Tensor kv_rows = kv_channels(keep.kv_groups, hd);
    select_rows(m, p + "self_attn.q_proj", q_rows);
    select_rows(m, p + "self_attn.k_proj", kv_rows);
    select_rows(m, p + "self_attn.v_proj", kv_rows);
    select_columns(m, p + "self_attn.o_proj", q_rows, o_input_mean);
    dims.num_kv_heads = static_cast<int64_t>(keep.kv_groups.size());
    dims.num_heads = dims.num_kv_heads * group;
  }
  if (static_cast<int64_t>(keep.channels.size()) < dims.intermediate_size) {
    const at::Tensor ch = to_index(keep.channels);
    if (c.arch != Arch::kGPT2) select_rows(m, p + "mlp.gate_proj", ch);
    select_rows(m, p + "mlp.up_proj", ch);
    select_columns(m, p + "mlp.down_proj", ch, down_input_mean);
    dims.intermediate_size = static_cast<int64_t>(keep.channels.size());
  }
}

bool can_store_compensation_bias(const ModelConfig& config) {
  return config.arch == Arch::kGPT2 || config.model_type == "llama";
}

void complete_bias_layout(Model& m) {
  ModelConfig& c = m.config;
  if (c.arch == Arch::kGPT2) return;  // every GPT-2 linear has a bias
  auto any_bias = [&](std::initializer_list<const char*> names) {
    for (int64_t i = 0; i < c.num_layers(); ++i)
      for (const char* n : names)
        if (m.linear(Model::layer_prefix(i) + n).bias.defined()) return true;
    return false;
  };
  auto fill_zero_biases = [&](std::initializer_list<const char*> names) {
    for (int64_t i = 0; i < c.num_layers(); ++i)
      for (const char* n : names) {
        Linear& l = m.linear(Model::layer_prefix(i) + n);
        if (!l.bias.defined()) l.bias = at::zeros({l.out_features()}, m.dtype);
      }
  };
  const bool o_bias = any_bias({"self_attn.o_proj"});
  const bool mlp_bias = any_bias({"mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"});
  if ((o_bias && !c.o_bias) || (mlp_bias && !c.mlp_bias))
    SLMKIT_CHECK(can_store_compensation_bias(c), "model_type ", c.model_type, " has no ",
                 o_bias ? "o_proj" : "MLP", " bias in Hugging Face transformers, so its config cannot carry one");
  if (o_bias || (c.qkv_bias && c.o_bias)) {
    c.qkv_bias = c.o_bias = true;
    fill_zero_biases({"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj"});
  }
  if (mlp_bias) {
    c.mlp_bias = true;
    fill_zero_biases({"mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"});
  }
}

}  // namespace slmkit
