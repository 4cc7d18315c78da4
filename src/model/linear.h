// A linear layer y = x·Wᵀ + b whose weights may take several forms. Passes swap
// the form (dense → quantized, low-rank, ...) without touching the forward pass,
// which only calls Linear::forward.
#pragma once

#include <cstdint>
#include <variant>

#include <ATen/ATen.h>

#include "model/quantized_weights.h"

namespace slmkit {

// Plain weights, row-major [out_features, in_features] as in PyTorch.
struct DenseWeights {
  at::Tensor weight;
};

// Each form a pass can produce is one alternative here. QuantizedWeights stay
// packed in memory (GPTQ layout) and are dequantized on use.
using LinearWeights = std::variant<DenseWeights, QuantizedWeights>;

struct Linear {
  LinearWeights weights;
  at::Tensor bias;  // [out_features] or undefined

  int64_t in_features() const;
  int64_t out_features() const;
  // x: [..., in_features] → [..., out_features], computed in x's dtype.
  at::Tensor forward(const at::Tensor& x) const;
  // The weight as a dense [out, in] tensor: dense weights as stored, quantized
  // ones dequantized to float32.
  at::Tensor dense_weight() const;
  bool is_dense() const { return std::holds_alternative<DenseWeights>(weights); }
  bool is_quantized() const { return std::holds_alternative<QuantizedWeights>(weights); }
  // Whether the weight is present (a default-constructed Linear has none).
  bool has_weight() const;
  // Number of parameters: stored values for dense weights, the out·in weights
  // represented for quantized ones (their size is storage_bytes()); bias included.
  int64_t parameter_count() const;
  // Bytes the layer takes in a checkpoint: dense numel·element size, quantized
  // packed qweight/qzeros/scales/g_idx; bias included.
  int64_t storage_bytes() const;
};

inline Linear make_dense_linear(at::Tensor weight, at::Tensor bias = {}) {
  return Linear{DenseWeights{std::move(weight)}, std::move(bias)};
}

}  // namespace slmkit
