#include "model/linear.h"

#include "core/error.h"
#include "core/overloaded.h"

namespace slmkit {
int64_t Linear::in_features() const {
  return std::visit(Overloaded{[](const DenseWeights& d) { return d.weight.size(1); },
                               [](const QuantizedWeights& q) { return q.in_features; },
                               [](const LowRankWeights& l) { return l.a.size(1); }},
                    weights);
}

int64_t Linear::out_features() const {
  return std::visit(Overloaded{[](const DenseWeights& d) { return d.weight.size(0); },
                               [](const QuantizedWeights& q) { return q.out_features; },
                               [](const LowRankWeights& l) { return l.b.size(0); }},
                    weights);
}

at::Tensor Linear::forward(const at::Tensor& x) const {
  // Out of place: during fine-tuning the base output is part of the autograd graph.
  if (adapter) return forward_base(x).add(adapter->forward(x));
  return forward_base(x);
}

at::Tensor Linear::forward_base(const at::Tensor& x) const {
  const at::Tensor b = bias.defined() ? bias : at::Tensor();
  return std::visit(
      Overloaded{[&](const DenseWeights& d) {
                   SLMKIT_ASSERT(d.weight.scalar_type() == x.scalar_type(), "linear weight dtype differs from input");
                   return at::linear(x, d.weight, b);
                 },
                 // Dequantized per call: simple and exact; a fused kernel would only be faster.
                 [&](const QuantizedWeights& q) { return at::linear(x, q.dequantize(x.scalar_type()), b); },
                 [&](const LowRankWeights& l) {
                   SLMKIT_ASSERT(l.a.scalar_type() == x.scalar_type() && l.b.scalar_type() == x.scalar_type(),
                                 "low-rank factor dtype differs from input");
                   return at::linear(at::linear(x, l.a), l.b, b);
                 }},
      weights);
}

at::Tensor Linear::dense_weight() const {
  return std::visit(Overloaded{[](const DenseWeights& d) { return d.weight; },
                               [](const QuantizedWeights& q) { return q.dequantize(at::kFloat); },
                               [](const LowRankWeights& l) { return at::mm(l.b.to(at::kFloat), l.a.to(at::kFloat)); }},
                    weights);
}

bool Linear::has_weight() const {
  return std::visit(Overloaded{[](const DenseWeights& d) { return d.weight.defined(); },
                               [](const QuantizedWeights& q) { return q.qweight.defined(); },
                               [](const LowRankWeights& l) { return l.a.defined() && l.b.defined(); }},
                    weights);
}

int64_t Linear::parameter_count() const {
  const int64_t b = bias.defined() ? bias.numel() : 0;
  return b + std::visit(Overloaded{[](const DenseWeights& d) { return d.weight.numel(); },
                                   [](const QuantizedWeights& q) { return q.out_features * q.in_features; },
                                   [](const LowRankWeights& l) { return l.a.numel() + l.b.numel(); }},
                        weights);
}

int64_t Linear::storage_bytes() const {
  const int64_t b = bias.defined() ? bias.numel() * static_cast<int64_t>(bias.element_size()) : 0;
  return b + std::visit(Overloaded{[](const DenseWeights& d) {
                                     return d.weight.numel() * static_cast<int64_t>(d.weight.element_size());
                                   },
                                   [](const QuantizedWeights& q) { return q.storage_bytes(); },
                                   [](const LowRankWeights& l) {
                                     return l.a.numel() * static_cast<int64_t>(l.a.element_size()) +
                                            l.b.numel() * static_cast<int64_t>(l.b.element_size());
                                   }},
                        weights);
}

}  // namespace slmkit
