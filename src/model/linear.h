// A linear layer y = x·Wᵀ + b whose weights may take several forms. Passes swap
// the form (dense → quantized, low-rank, ...) without touching the forward pass,
// which only calls Linear::forward.
#pragma once

#include <cstdint>
#include <memory>
#include <variant>

#include <ATen/ATen.h>

#include "model/lora_delta.h"
#include "model/quantized_weights.h"

namespace slmkit {

// Plain weights, row-major [out_features, in_features] as in PyTorch.
struct DenseWeights {
  at::Tensor weight;
};

// A factorized weight W ≈ B·A of rank r (SVD-family compression, src/lowrank):
// y = (x·Aᵀ)·Bᵀ, two thin products, never the [out, in] matrix. Saves
// parameters only while r < out·in / (out + in).
struct LowRankWeights {
  at::Tensor a;  // [r, in_features], the model's dtype
  at::Tensor b;  // [out_features, r], the model's dtype

  int64_t rank() const { return a.size(0); }
};

// Each form a pass can produce is one alternative here. QuantizedWeights stay
// packed in memory (GPTQ layout) and are dequantized on use.
using LinearWeights = std::variant<DenseWeights, QuantizedWeights, LowRankWeights>;

struct Linear {
  LinearWeights weights;
  at::Tensor bias;  // [out_features] or undefined
  // An optional LoRA adapter applied unmerged in forward(); not part of the
  // weights: parameter_count/storage_bytes/dense_weight ignore it, and it must be
  // merged (src/lowrank/lora.h) before the weights are saved.
  std::shared_ptr<const LoraDelta> adapter = nullptr;

  int64_t in_features() const;
  int64_t out_features() const;
  // x: [..., in_features] → [..., out_features], computed in x's dtype.
  at::Tensor forward(const at::Tensor& x) const;
  // x·Wᵀ + b without the adapter.
  at::Tensor forward_base(const at::Tensor& x) const;
  // The weight as a dense [out, in] tensor: dense weights as stored, quantized
  // ones dequantized to float32, low-rank ones multiplied out (B·A) in float32.
  at::Tensor dense_weight() const;
  bool is_dense() const { return std::holds_alternative<DenseWeights>(weights); }
  bool is_quantized() const { return std::holds_alternative<QuantizedWeights>(weights); }
  bool is_low_rank() const { return std::holds_alternative<LowRankWeights>(weights); }
  // Whether the weight is present (a default-constructed Linear has none).
  bool has_weight() const;
  // Number of parameters: stored values for dense weights, the out·in weights
  // represented for quantized ones (their size is storage_bytes()), r·(in + out)
  // for low-rank ones; bias included.
  int64_t parameter_count() const;
  // Bytes the layer takes in a checkpoint: dense numel·element size, quantized
  // packed qweight/qzeros/scales/g_idx, low-rank both factors; bias included.
  int64_t storage_bytes() const;
};

inline Linear make_dense_linear(at::Tensor weight, at::Tensor bias = {}) {
  return Linear{DenseWeights{std::move(weight)}, std::move(bias)};
}

}  // namespace slmkit
