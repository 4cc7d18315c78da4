// A LoRA adapter on one linear layer, applied unmerged at run time:
//   y = x·Wᵀ + b + scaling · (x·Aᵀ)·Bᵀ
// The data lives here so that Linear can carry it; creating, merging, reading
// and writing adapters is src/lowrank/lora.h and src/io/peft_adapter.h.
#pragma once

#include <cstdint>

#include <ATen/ATen.h>

namespace slmkit {

struct LoraDelta {
  at::Tensor a;         // [r, in_features]  (PEFT's lora_A.weight)
  at::Tensor b;         // [out_features, r] (PEFT's lora_B.weight)
  double scaling = 1;   // lora_alpha / r, or lora_alpha / √r with rsLoRA

  int64_t rank() const { return a.size(0); }
  int64_t parameter_count() const { return a.numel() + b.numel(); }
  // scaling · (x·Aᵀ)·Bᵀ in x's dtype: the two thin products, never the [out, in] matrix.
  at::Tensor forward(const at::Tensor& x) const {
    const at::ScalarType t = x.scalar_type();
    const at::Tensor h = at::linear(x, a.scalar_type() == t ? a : a.to(t));
    return at::linear(h, b.scalar_type() == t ? b : b.to(t)).mul(scaling);
  }
};

}  // namespace slmkit
