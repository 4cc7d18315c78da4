// Moving a Model between devices (the GPU path of `slmkit generate --device
// cuda`): every parameter, the packed GPTQ tensors (dequantized on the fly by
// LibTorch ops on that device) and the RoPE tables. Tied weights stay tied.
#pragma once

#include <string>

#include <ATen/ATen.h>

#include "model/model.h"

namespace slmkit {

// "cpu" or "cuda[:N]"; throws Error when the name is unknown or CUDA is asked
// for and this LibTorch has no CUDA (or no device is present).
at::Device parse_device(const std::string& name);

// Moves the model's tensors to `device`. LoRA adapters must be merged first (Error otherwise).
void move_model_to_device(Model& model, at::Device device);

}  // namespace slmkit
