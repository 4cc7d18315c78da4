// A linear layer y = x·Wᵀ + b whose weights may take several forms. Passes swap
// the form (dense → quantized, low-rank, ...) without touching the forward pass,
// which only calls Linear::forward.
#pragma once

#include <cstdint>
#include <variant>

#include <ATen/ATen.h>

namespace slmkit {

// Plain weights, row-major [out_features, in_features] as in PyTorch.
struct DenseWeights {
  at::Tensor weight;
};

// Each form a pass can produce is one alternative here.
using LinearWeights = std::variant<DenseWeights>;

struct Linear {
  LinearWeights weights;
  at::Tensor bias;  // [out_features] or undefined

  int64_t in_features() const;
  int64_t out_features() const;
  // x: [..., in_features] → [..., out_features], computed in x's dtype.
  at::Tensor forward(const at::Tensor& x) const;
  // The weight as a dense [out, in] float tensor (dequantized/expanded if needed).
  at::Tensor dense_weight() const;
  bool is_dense() const { return std::holds_alternative<DenseWeights>(weights); }
  // Number of stored parameters (what this form keeps, not what it expands to).
  int64_t parameter_count() const;
};

inline Linear make_dense_linear(at::Tensor weight, at::Tensor bias = {}) {
  return Linear{DenseWeights{std::move(weight)}, std::move(bias)};
}

}  // namespace slmkit
