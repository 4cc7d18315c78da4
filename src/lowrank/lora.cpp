#include "lowrank/lora.h"

#include <cmath>

#include "core/error.h"

namespace slmkit {

int64_t LoraAdapter::parameter_count() const {
  int64_t n = 0;
  for (const auto& [name, d] : modules) n += d.parameter_count();
  return n;
}

double lora_scaling(double alpha, int64_t rank, bool use_rslora) {
  SLMKIT_CHECK(rank >= 1, "LoRA rank must be at least 1, found ", rank);
  const double r = static_cast<double>(rank);
  return alpha / (use_rslora ? std::sqrt(r) : r);
}

LoraDelta init_lora(int64_t in_features, int64_t out_features, int64_t rank, double scaling, at::Generator& gen) {
  SLMKIT_CHECK(rank >= 1 && in_features >= 1 && out_features >= 1, "LoRA shapes must be positive: r ", rank,
               ", in ", in_features, ", out ", out_features);
  // kaiming_uniform_(a=√5) on a [r, in] weight: gain √(2/(1+5)), bound gain·√(3/fan_in) = 1/√in.
  const double bound = 1.0 / std::sqrt(static_cast<double>(in_features));
  LoraDelta d;
  d.a = at::empty({rank, in_features}, at::kFloat).uniform_(-bound, bound, gen);
  d.b = at::zeros({out_features, rank}, at::kFloat);
  d.scaling = scaling;
  return d;
}

at::Tensor lora_delta_weight(const LoraDelta& delta) {
  SLMKIT_ASSERT(delta.a.dim() == 2 && delta.b.dim() == 2 && delta.b.size(1) == delta.a.size(0),
                "LoRA pair A ", delta.a.sizes(), " B ", delta.b.sizes());
  return at::mm(delta.b.to(at::kDouble), delta.a.to(at::kDouble)).mul_(delta.scaling);
}

at::Tensor merge_lora(const at::Tensor& weight, const LoraDelta& delta) {
  SLMKIT_CHECK(weight.dim() == 2 && weight.size(0) == delta.b.size(0) && weight.size(1) == delta.a.size(1),
               "LoRA delta B ", delta.b.sizes(), " · A ", delta.a.sizes(), " does not fit a weight of shape ",
               weight.sizes());
  return (weight.to(at::kDouble) + lora_delta_weight(delta)).to(weight.scalar_type());
}

}  // namespace slmkit
