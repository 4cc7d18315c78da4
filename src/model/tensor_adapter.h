// The thin bridge between LibTorch-free TensorViews and at::Tensor.
#pragma once

#include <ATen/ATen.h>

#include "core/tensor_view.h"

namespace slmkit {

// Zero-copy when the dtype exists in LibTorch and the bytes are aligned (the
// tensor keeps view.owner alive); otherwise a converted copy (U16/U32/U64 are
// widened to the next signed type). `name` is used in errors.
at::Tensor to_torch(const TensorView& view, const std::string& name);

// A view of a contiguous CPU tensor; the view keeps the tensor alive.
TensorView to_view(const at::Tensor& tensor);

DType dtype_of(at::ScalarType t);

}  // namespace slmkit
