// The Model: a validated config, the non-linear parameters by name, and a typed
// view of every linear layer. Every architecture uses the same canonical names
// (Hugging Face Llama naming), so passes address layers uniformly:
//   tensors: model.embed_tokens.weight, model.embed_positions.weight (GPT-2),
//            model.layers.{i}.input_layernorm.{weight,bias},
//            model.layers.{i}.post_attention_layernorm.{weight,bias},
//            model.norm.{weight,bias}
//   linears: model.layers.{i}.self_attn.{q,k,v,o}_proj,
//            model.layers.{i}.mlp.{gate,up,down}_proj (GPT-2: no gate), lm_head
// Checkpoint names of other layouts (GPT-2's fused c_attn, llama2.c) are mapped
// to these on load and back on save.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "model/config.h"
#include "model/linear.h"

namespace slmkit {

class Model {
 public:
  ModelConfig config;
  std::map<std::string, at::Tensor> tensors;  // non-linear parameters
  std::map<std::string, Linear> linears;      // every linear layer, lm_head included
  at::ScalarType dtype = at::kFloat;          // compute dtype of the parameters

  // RoPE tables [max_positions, head_dim] (cos/sin, rotate-half layout); built by finalize().
  at::Tensor rope_cos, rope_sin;

  static std::string layer_prefix(int64_t layer);  // "model.layers.3."
  // Linear names inside one block for this architecture ("self_attn.q_proj", ...).
  const std::vector<std::string>& block_linear_names() const;

  const Linear& linear(const std::string& name) const;
  Linear& linear(const std::string& name);
  const at::Tensor& tensor(const std::string& name) const;
  // Undefined tensor when absent (optional biases).
  at::Tensor optional_tensor(const std::string& name) const;

  // Checks every expected tensor and linear is present with the shape the
  // config implies, then builds derived tables. Throws Error naming the tensor.
  void finalize(const std::string& source);
  // Converts every floating parameter to `dtype` (kFloat or kBFloat16).
  void to(at::ScalarType dtype);
  // Stored parameters, shared (tied) storage counted once.
  int64_t parameter_count() const;
  // Parameters inside the decoder blocks (what compression targets are relative to).
  int64_t block_parameter_count() const;
};

}  // namespace slmkit
