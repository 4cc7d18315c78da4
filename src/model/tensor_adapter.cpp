#include "model/tensor_adapter.h"

#include <cstdint>
#include <cstring>

#include "core/error.h"

namespace slmkit {
namespace {

bool torch_type(DType t, at::ScalarType* out) {
  switch (t) {
    case DType::BOOL: *out = at::kBool; return true;
    case DType::U8: *out = at::kByte; return true;
    case DType::I8: *out = at::kChar; return true;
    case DType::I16: *out = at::kShort; return true;
    case DType::F16: *out = at::kHalf; return true;
    case DType::BF16: *out = at::kBFloat16; return true;
    case DType::I32: *out = at::kInt; return true;
    case DType::F32: *out = at::kFloat; return true;
    case DType::F64: *out = at::kDouble; return true;
    case DType::I64: *out = at::kLong; return true;
    default: return false;
  }
}

template <typename Src, typename Dst>
at::Tensor widen(const TensorView& v, at::ScalarType dst_type) {
  at::Tensor t = at::empty(v.shape, at::TensorOptions().dtype(dst_type));
  Dst* dst = t.data_ptr<Dst>();
  for (int64_t i = 0; i < v.numel(); ++i) {
    Src s;
    std::memcpy(&s, v.data + static_cast<size_t>(i) * sizeof(Src), sizeof(Src));
    dst[i] = static_cast<Dst>(s);
  }
  return t;
}

}  // namespace

at::Tensor to_torch(const TensorView& view, const std::string& name) {
  at::ScalarType st;
  if (torch_type(view.dtype, &st)) {
    const size_t align = dtype_size(view.dtype);
    if (reinterpret_cast<uintptr_t>(view.data) % align == 0 && view.numel() > 0) {
      auto* keep = new std::shared_ptr<const void>(view.owner);
      return at::from_blob(const_cast<uint8_t*>(view.data), view.shape,
                           [keep](void*) { delete keep; }, at::TensorOptions().dtype(st));
    }
    at::Tensor t = at::empty(view.shape, at::TensorOptions().dtype(st));
    if (view.nbytes() > 0) std::memcpy(t.data_ptr(), view.data, view.nbytes());
    return t;
  }
  switch (view.dtype) {
    case DType::U16: return widen<uint16_t, int32_t>(view, at::kInt);
    case DType::U32: return widen<uint32_t, int64_t>(view, at::kLong);
    case DType::U64: {
      // Values above INT64_MAX cannot be represented; refuse rather than wrap.
      for (int64_t i = 0; i < view.numel(); ++i) {
        uint64_t u;
        std::memcpy(&u, view.data + static_cast<size_t>(i) * 8, 8);
        SLMKIT_CHECK(u <= static_cast<uint64_t>(INT64_MAX), "tensor ", name, ": U64 value ", u,
                     " does not fit in int64");
      }
      return widen<uint64_t, int64_t>(view, at::kLong);
    }
    default:
      throw Error(cat("tensor ", name, ": dtype ", dtype_name(view.dtype),
                      " cannot be used as a LibTorch tensor in this build"));
  }
}

DType dtype_of(at::ScalarType t) {
  switch (t) {
    case at::kBool: return DType::BOOL;
    case at::kByte: return DType::U8;
    case at::kChar: return DType::I8;
    case at::kShort: return DType::I16;
    case at::kHalf: return DType::F16;
    case at::kBFloat16: return DType::BF16;
    case at::kInt: return DType::I32;
    case at::kFloat: return DType::F32;
    case at::kDouble: return DType::F64;
    case at::kLong: return DType::I64;
    default: throw Error(cat("tensor dtype ", c10::toString(t), " cannot be written to a checkpoint"));
  }
}

TensorView to_view(const at::Tensor& tensor) {
  const at::Tensor t = tensor.contiguous().cpu();
  TensorView v;
  v.dtype = dtype_of(t.scalar_type());
  v.shape = t.sizes().vec();
  v.data = static_cast<const uint8_t*>(t.data_ptr());
  v.owner = std::make_shared<at::Tensor>(t);
  return v;
}

}  // namespace slmkit
