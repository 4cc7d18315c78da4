// LoRA on tensors, with PEFT's semantics: scaling, initialisation, merging.
//   ΔW = scaling · B·A,  A [r, in],  B [out, r],  scaling = lora_alpha / r
//   (lora_alpha / √r with rsLoRA).
// A LoraAdapter is a set of such deltas by canonical linear name plus the PEFT
// config they came with; reading and writing them is src/pipeline/lora_adapter.h.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include <ATen/ATen.h>

#include "io/peft_adapter.h"
#include "model/lora_delta.h"

namespace slmkit {

struct LoraAdapter {
  PeftLoraConfig config;
  std::map<std::string, LoraDelta> modules;  // canonical linear name → delta

  int64_t parameter_count() const;
};

// lora_alpha / r, or lora_alpha / √r with rsLoRA.
double lora_scaling(double alpha, int64_t rank, bool use_rslora);

// A fresh delta as PEFT initialises one by default: A ~ kaiming_uniform(a=√5),
// i.e. U(−1/√in, 1/√in), and B = 0, so the adapter starts as a no-op and the
// first gradient step moves B. float32, drawn from `gen`.
LoraDelta init_lora(int64_t in_features, int64_t out_features, int64_t rank, double scaling, at::Generator& gen);

// scaling · B·A as a float64 [out, in] tensor.
at::Tensor lora_delta_weight(const LoraDelta& delta);

// W + scaling · B·A, computed in float64 and rounded once to W's dtype, so the
// result is the exact sum correctly rounded (bit-exact when every term is
// representable, as with small dyadic test matrices).
at::Tensor merge_lora(const at::Tensor& weight, const LoraDelta& delta);

}  // namespace slmkit
