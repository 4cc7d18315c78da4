// The reference forward pass in LibTorch: Llama family (RMSNorm, rotate-half
// RoPE, GQA attention, SwiGLU; Qwen2 q/k/v biases; Mistral sliding window) and
// GPT-2 (LayerNorm, learned positions, GELU). Exposed block by block so the
// calibration engine can run one decoder layer at a time.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "model/model.h"

namespace slmkit {

// Keys and values of past positions, per layer [batch, kv_heads, capacity, head_dim].
struct KVCache {
  std::vector<at::Tensor> k, v;
  int64_t length = 0;  // positions already stored

  int64_t capacity() const { return k.empty() ? 0 : k[0].size(2); }
  int64_t batch() const { return k.empty() ? 0 : k[0].size(0); }
  void reset() { length = 0; }
};

// Allocates a cache for `batch` sequences of up to `capacity` positions.
KVCache make_kv_cache(const Model& model, int64_t batch, int64_t capacity);

// tokens [B, T] (int64) at positions pos0.. → hidden states [B, T, hidden].
at::Tensor embed(const Model& model, const at::Tensor& tokens, int64_t pos0);

// Called with each linear's name and input just before the linear runs: how
// calibration observes activations without hooks into the Model.
using LinearTap = std::function<void(const std::string& linear_name, const at::Tensor& input)>;

// One decoder layer on hidden [B, T, hidden] at positions pos0..pos0+T-1.
// With a cache, keys/values are written at [pos0, pos0+T) and attention sees
// [0, pos0+T); the caller advances cache->length once all layers have run.
at::Tensor decoder_layer(const Model& model, int64_t layer, const at::Tensor& hidden, int64_t pos0,
                         KVCache* cache, const LinearTap* tap = nullptr);

// The parts of a decoder layer, for methods that measure one sub-layer (AWQ):
// decoder_layer(x) = h + mlp_sublayer(block_norm(h, false)), h = x + attention_sublayer(block_norm(x, true)).
at::Tensor block_norm(const Model& model, int64_t layer, bool before_attention, const at::Tensor& x);
at::Tensor attention_sublayer(const Model& model, int64_t layer, const at::Tensor& normed, int64_t pos0,
                              KVCache* cache, const LinearTap* tap = nullptr);
at::Tensor mlp_sublayer(const Model& model, int64_t layer, const at::Tensor& normed, const LinearTap* tap = nullptr);

// Final norm and the LM head → logits [B, T, vocab] in float32.
at::Tensor lm_logits(const Model& model, const at::Tensor& hidden);

// Whole model: tokens [B, T] → logits [B, T, vocab] float32. With a cache the
// tokens continue the cached sequences and the cache is advanced by T.
at::Tensor forward(const Model& model, const at::Tensor& tokens, KVCache* cache = nullptr);

}  // namespace slmkit
