#include "model/linear.h"

#include "core/error.h"

namespace slmkit {
namespace {

// Visitor built from one lambda per alternative.
template <typename... F>
struct Overloaded : F... {
  using F::operator()...;
};
template <typename... F>
Overloaded(F...) -> Overloaded<F...>;

}  // namespace

int64_t Linear::in_features() const {
  return std::visit(Overloaded{[](const DenseWeights& d) { return d.weight.size(1); },
                               [](const QuantizedWeights& q) { return q.in_features; }},
                    weights);
}

int64_t Linear::out_features() const {
  return std::visit(Overloaded{[](const DenseWeights& d) { return d.weight.size(0); },
                               [](const QuantizedWeights& q) { return q.out_features; }},
                    weights);
}

at::Tensor Linear::forward(const at::Tensor& x) const {
  const at::Tensor b = bias.defined() ? bias : at::Tensor();
  return std::visit(
      Overloaded{[&](const DenseWeights& d) {
                   SLMKIT_ASSERT(d.weight.scalar_type() == x.scalar_type(), "linear weight dtype differs from input");
                   return at::linear(x, d.weight, b);
                 },
                 // Dequantized per call: simple and exact; a fused kernel would only be faster.
                 [&](const QuantizedWeights& q) { return at::linear(x, q.dequantize(x.scalar_type()), b); }},
      weights);
}

at::Tensor Linear::dense_weight() const {
  return std::visit(Overloaded{[](const DenseWeights& d) { return d.weight; },
                               [](const QuantizedWeights& q) { return q.dequantize(at::kFloat); }},
                    weights);
}

bool Linear::has_weight() const {
  return std::visit(Overloaded{[](const DenseWeights& d) { return d.weight.defined(); },
                               [](const QuantizedWeights& q) { return q.qweight.defined(); }},
                    weights);
}

int64_t Linear::parameter_count() const {
  const int64_t b = bias.defined() ? bias.numel() : 0;
  return b + std::visit(Overloaded{[](const DenseWeights& d) { return d.weight.numel(); },
                                   [](const QuantizedWeights& q) { return q.out_features * q.in_features; }},
                        weights);
}

int64_t Linear::storage_bytes() const {
  const int64_t b = bias.defined() ? bias.numel() * static_cast<int64_t>(bias.element_size()) : 0;
  return b + std::visit(Overloaded{[](const DenseWeights& d) {
                                     return d.weight.numel() * static_cast<int64_t>(d.weight.element_size());
                                   },
                                   [](const QuantizedWeights& q) { return q.storage_bytes(); }},
                        weights);
}

}  // namespace slmkit
