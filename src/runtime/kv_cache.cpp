#include "runtime/kv_cache.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "runtime/vector_ops.h"

namespace slmkit::runtime {

KvDType parse_kv_dtype(const std::string& name) {
  if (name == "f32" || name == "float32" || name == "fp32") return KvDType::kF32;
  if (name == "f16" || name == "float16" || name == "fp16") return KvDType::kF16;
  throw Error(cat("--kv-dtype ", name, " is not supported (use f32 or f16)"));
}

const char* kv_dtype_name(KvDType t) { return t == KvDType::kF32 ? "f32" : "f16"; }

KvCache::KvCache(const ModelConfig& config, int64_t capacity, KvDType dtype)
    : capacity_(capacity), head_dim_(config.head_dim), window_(config.sliding_window), dtype_(dtype) {
  SLMKIT_CHECK(capacity > 0, "KV cache capacity must be positive, found ", capacity);
  size_t offset = 0;
  for (const LayerDims& l : config.layers) {
    kv_heads_.push_back(l.num_kv_heads);
    layer_offset_.push_back(offset);
    offset += static_cast<size_t>(l.num_kv_heads * capacity * head_dim_) * element_bytes();
  }
  keys_.assign(offset, 0);
  values_.assign(offset, 0);
}

void* KvCache::row(std::vector<uint8_t>& store, int64_t layer, int64_t kv_head, int64_t pos) {
  const size_t index = static_cast<size_t>((kv_head * capacity_ + pos) * head_dim_);
  return store.data() + layer_offset_[static_cast<size_t>(layer)] + index * element_bytes();
}

void KvCache::store(int64_t layer, int64_t pos, const float* k, const float* v) {
  SLMKIT_ASSERT(pos >= 0 && pos < capacity_, "KV position ", pos, " outside capacity ", capacity_);
  const int64_t heads = kv_heads_[static_cast<size_t>(layer)];
  for (int64_t h = 0; h < heads; ++h) {
    const float* kh = k + h * head_dim_;
    const float* vh = v + h * head_dim_;
    if (dtype_ == KvDType::kF32) {
      std::memcpy(key(layer, h, pos), kh, static_cast<size_t>(head_dim_) * sizeof(float));
      std::memcpy(value(layer, h, pos), vh, static_cast<size_t>(head_dim_) * sizeof(float));
    } else {
      f32_to_f16_row(kh, static_cast<uint16_t*>(key(layer, h, pos)), head_dim_);
      f32_to_f16_row(vh, static_cast<uint16_t*>(value(layer, h, pos)), head_dim_);
    }
  }
}

int64_t KvCache::bytes_read_at(int64_t pos) const {
  const int64_t seen = window_ > 0 ? std::min(pos + 1, window_) : pos + 1;
  int64_t heads = 0;
  for (int64_t h : kv_heads_) heads += h;
  return 2 * heads * seen * head_dim_ * static_cast<int64_t>(element_bytes());
}

}  // namespace slmkit::runtime
