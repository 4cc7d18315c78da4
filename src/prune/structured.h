// Structured pruning applied to a Model: whole KV groups and MLP channels
// (structures.h) leave the weights, the layer's LayerDims shrink to match, and
// optionally the removed channels' mean contribution moves into a bias.
#pragma once

#include <cstdint>

#include <ATen/ATen.h>

#include "model/model.h"
#include "prune/allocation.h"

namespace slmkit {

// W[:, removed] · mean[removed]: what the removed input channels add to the
// output on average, in float64 [out]. weight [out, in], input_mean [in],
// removed: int64 indices. Folded into the bias, it makes pruning exact for
// channels whose input is constant (FLAP's bias compensation).
at::Tensor removed_channels_bias(const at::Tensor& weight, const at::Tensor& input_mean, const at::Tensor& removed);

// Keeps only `keep`'s KV groups and channels in layer `layer` of a model with
// dense linears (q/k/v rows, o_proj columns, gate/up rows, down_proj columns,
// their biases) and updates config.layers[layer]. With input means (float64,
// [heads·head_dim] for o_proj, [intermediate] for down_proj) the removed
// channels' mean contribution is added to o_proj / down_proj's bias, creating
// it when absent — call complete_bias_layout() afterwards so the config says
// so. Throws Error for a quantized linear or an empty keep list.
void prune_block_structures(Model& model, int64_t layer, const LayerKeep& keep, const at::Tensor& o_input_mean = {},
                            const at::Tensor& down_input_mean = {});

// Whether model_type can store o_proj / down_proj biases in a config that
// Hugging Face transformers loads (only llama's attention_bias / mlp_bias and
// GPT-2, which always has them).
bool can_store_compensation_bias(const ModelConfig& config);

// Hugging Face Llama has one switch for all attention biases (attention_bias)
// and one for all MLP biases (mlp_bias). When any layer has an o_proj (or
// q/k/v) bias, or any MLP bias, this sets the switch and gives every sibling
// linear of every layer that has none a zero bias, so transformers loads the
// checkpoint and the outputs stay exactly as they were. Throws Error for a
// model type whose config cannot express the biases it has.
void complete_bias_layout(Model& model);

}  // namespace slmkit
