// A borrowed, read-only view of one tensor's bytes, free of LibTorch.
//
// Readers (safetensors, PyTorch zip, llama2.c) hand out TensorViews whose bytes
// live in a memory-mapped file or a buffer; `owner` keeps that storage alive for
// as long as any view (or a torch::Tensor made from it) exists.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace slmkit {

struct TensorView {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;       // row-major, no strides
  const uint8_t* data = nullptr;    // nbytes() bytes, little-endian
  std::shared_ptr<const void> owner;

  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype); }
};

std::string shape_str(const std::vector<int64_t>& shape);  // "[512, 64]"

// What a checkpoint file holds: named tensors plus string metadata.
struct TensorSet {
  std::map<std::string, TensorView> tensors;
  std::map<std::string, std::string> metadata;

  const TensorView* find(const std::string& name) const {
    auto it = tensors.find(name);
    return it == tensors.end() ? nullptr : &it->second;
  }
};

}  // namespace slmkit
