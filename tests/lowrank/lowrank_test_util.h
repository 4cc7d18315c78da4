// Shared pieces of the low-rank tests: inputs with correlated channels and
// outliers (what makes activation-aware methods matter), and Gram matrices.
#pragma once

#include <ATen/ATen.h>

namespace slmkit::test {

// X [tokens, in] float64: Gaussian mixed by a random matrix (correlated
// channels) with a few channels scaled up 20x (activation outliers).
inline at::Tensor correlated_inputs(int64_t tokens, int64_t in, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  const at::Tensor z = at::randn({tokens, in}, gen, at::kDouble);
  const at::Tensor mix = at::randn({in, in}, gen, at::kDouble) / std::sqrt(static_cast<double>(in));
  at::Tensor x = at::mm(z, mix + at::eye(in, at::kDouble));
  at::Tensor scale = at::ones({in}, at::kDouble);
  for (int64_t j = 0; j < in; j += 7) scale[j] = 20.0;
  return x * scale;
}

inline at::Tensor random_weight(int64_t out, int64_t in, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  return at::randn({out, in}, gen, at::kDouble);
}

inline at::Tensor gram_of(const at::Tensor& x) { return at::mm(x.t(), x); }

// ‖X(W − B·A)ᵀ‖_F² computed from the activations themselves.
inline double output_error(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, const at::Tensor& a) {
  return (at::mm(x, (w - at::mm(b, a)).t())).square().sum().item<double>();
}

}  // namespace slmkit::test
