#include "model/linear.h"

#include "core/error.h"

namespace slmkit {

int64_t Linear::in_features() const {
  return std::visit([](const DenseWeights& d) { return d.weight.size(1); }, weights);
}

int64_t Linear::out_features() const {
  return std::visit([](const DenseWeights& d) { return d.weight.size(0); }, weights);
}

at::Tensor Linear::forward(const at::Tensor& x) const {
  return std::visit(
      [&](const DenseWeights& d) {
        SLMKIT_ASSERT(d.weight.scalar_type() == x.scalar_type(), "linear weight dtype differs from input");
        return at::linear(x, d.weight, bias.defined() ? bias : at::Tensor());
      },
      weights);
}

at::Tensor Linear::dense_weight() const {
  return std::visit([](const DenseWeights& d) { return d.weight; }, weights);
}

int64_t Linear::parameter_count() const {
  const int64_t b = bias.defined() ? bias.numel() : 0;
  return b + std::visit([](const DenseWeights& d) { return d.weight.numel(); }, weights);
}

}  // namespace slmkit
