// Keys and values of past positions for one sequence, allocated once for a fixed
// capacity. Per layer and KV head the positions are contiguous
// ([kv_heads][capacity][head_dim]), so attention streams them in order.
// Stored as float32, or float16 to halve the bytes read per decoded token.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/config.h"

namespace slmkit::runtime {

enum class KvDType { kF32, kF16 };

// "f32"/"float32" or "f16"/"float16"; throws Error naming the flag otherwise.
KvDType parse_kv_dtype(const std::string& name);
const char* kv_dtype_name(KvDType t);

class KvCache {
 public:
  KvCache(const ModelConfig& config, int64_t capacity, KvDType dtype);

  int64_t capacity() const { return capacity_; }
  int64_t head_dim() const { return head_dim_; }
  KvDType dtype() const { return dtype_; }
  size_t element_bytes() const { return dtype_ == KvDType::kF32 ? 4 : 2; }
  int64_t length() const { return length_; }
  void set_length(int64_t n) { length_ = n; }
  void reset() { length_ = 0; }

  // Start of the row of one position for (layer, kv head); float or uint16_t per dtype().
  void* key(int64_t layer, int64_t kv_head, int64_t pos) { return row(keys_, layer, kv_head, pos); }
  void* value(int64_t layer, int64_t kv_head, int64_t pos) { return row(values_, layer, kv_head, pos); }
  const void* key(int64_t layer, int64_t kv_head, int64_t pos) const {
    return const_cast<KvCache*>(this)->key(layer, kv_head, pos);
  }
  const void* value(int64_t layer, int64_t kv_head, int64_t pos) const {
    return const_cast<KvCache*>(this)->value(layer, kv_head, pos);
  }

  // Stores `kv_heads` consecutive float rows (one per KV head) at `pos`.
  void store(int64_t layer, int64_t pos, const float* k, const float* v);

  // Bytes allocated for all layers (keys and values).
  int64_t bytes() const { return static_cast<int64_t>(keys_.size() + values_.size()); }
  // Bytes of keys and values read to attend from one query at `pos` in every
  // layer (a sliding window limits the positions seen).
  int64_t bytes_read_at(int64_t pos) const;

 private:
  void* row(std::vector<uint8_t>& store, int64_t layer, int64_t kv_head, int64_t pos);

  std::vector<int64_t> kv_heads_;       // per layer
  std::vector<size_t> layer_offset_;    // byte offset of each layer's block
  std::vector<uint8_t> keys_, values_;  // byte storage, float or half
  int64_t capacity_ = 0, head_dim_ = 0, length_ = 0, window_ = 0;
  KvDType dtype_ = KvDType::kF32;
};

}  // namespace slmkit::runtime
