// An independent, deliberately plain forward pass used as the test oracle:
// float64, one head at a time, no KV cache, no batching, written directly from
// the Hugging Face modeling code's equations and reading tensors by their
// checkpoint names. It shares nothing with src/model/forward.cpp.
#pragma once

#include <map>
#include <string>

#include <ATen/ATen.h>

#include "model/config.h"

namespace slmkit::test {

// tokens: [T] int64 → logits [T, vocab] float64. `w` maps HF names to tensors.
at::Tensor reference_llama_logits(const ModelConfig& c, const std::map<std::string, at::Tensor>& w,
                                  const at::Tensor& tokens);
at::Tensor reference_gpt2_logits(const ModelConfig& c, const std::map<std::string, at::Tensor>& w,
                                 const at::Tensor& tokens);

}  // namespace slmkit::test
