// Shared data builders and error measures for the quantization tests.
#pragma once

#include <cstdint>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

namespace slmkit::test {

inline at::Generator seeded(uint64_t seed) { return at::detail::createCPUGenerator(seed); }

inline at::Tensor random_weight(int64_t out, int64_t in, uint64_t seed) {
  at::Generator gen = seeded(seed);
  return at::randn({out, in}, gen, at::kFloat) * 0.05;
}

// Calibration inputs [tokens, in] with strongly correlated channels (a low-rank
// latent mix plus noise) and per-channel energies spread over ~e^±1, so that
// error feedback and act-order both have something to exploit.
inline at::Tensor correlated_inputs(int64_t tokens, int64_t in, uint64_t seed) {
  at::Generator gen = seeded(seed);
  const int64_t latent = std::max<int64_t>(4, in / 4);
  const at::Tensor z = at::randn({tokens, latent}, gen, at::kDouble);
  const at::Tensor mix = at::randn({latent, in}, gen, at::kDouble);
  const at::Tensor noise = at::randn({tokens, in}, gen, at::kDouble) * 0.3;
  const at::Tensor channel_scale = at::exp(at::randn({1, in}, gen, at::kDouble) * 0.5);
  return ((z.mm(mix) / std::sqrt(static_cast<double>(latent)) + noise) * channel_scale);
}

// H = (2/n)·XᵀX in float32, as gptq.py accumulates it.
inline at::Tensor hessian_from(const at::Tensor& x) {
  return (x.t().mm(x) * (2.0 / static_cast<double>(x.size(0)))).to(at::kFloat);
}

// ||X·Wᵀ − X·Qᵀ||² in float64: the layer-output error GPTQ minimizes.
inline double output_error(const at::Tensor& x, const at::Tensor& w, const at::Tensor& wq) {
  const at::Tensor diff = w.to(at::kDouble) - wq.to(at::kDouble);
  return x.to(at::kDouble).mm(diff.t()).pow(2).sum().item<double>();
}

inline double squared_error(const at::Tensor& w, const at::Tensor& wq) {
  return (w.to(at::kDouble) - wq.to(at::kDouble)).pow(2).sum().item<double>();
}

}  // namespace slmkit::test
