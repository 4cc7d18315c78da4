// Causal (optionally sliding-window) grouped-query attention over the KV cache.
//
// Work items are (KV head, block of consecutive queries): the block's keys are
// transposed once into [head_dim][keys] (fp16 rows converted on the way), and
// the query rows sharing the KV head (its query heads × the block's queries)
// run four at a time: scores as register tiles of 16 keys (no horizontal sums),
// outputs as register tiles of 16 head values over the keys, so each key and
// value is loaded once per four rows. Items are handed out dynamically across
// the OpenMP team (causal prefill is triangular).
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/kv_cache.h"

namespace slmkit::runtime {

// Per-thread buffers, sized once for the largest layer and the cache capacity.
class AttentionScratch {
 public:
  AttentionScratch() = default;
  AttentionScratch(int threads, int64_t capacity, int64_t head_dim);

  int threads() const { return threads_; }
  float* keys_t(int thread) { return keys_t_.data() + static_cast<size_t>(thread) * keys_stride_; }
  float* values(int thread) { return values_.data() + static_cast<size_t>(thread) * keys_stride_; }
  float* scores(int thread) { return scores_.data() + static_cast<size_t>(thread) * scores_stride_; }
  // Scaled query rows and one converted key row.
  float* rows(int thread) { return rows_.data() + static_cast<size_t>(thread) * rows_stride_; }

 private:
  int threads_ = 0;
  size_t keys_stride_ = 0, scores_stride_ = 0, rows_stride_ = 0;
  std::vector<float> keys_t_, values_, scores_, rows_;
};

struct AttentionShape {
  int64_t num_heads = 0, num_kv_heads = 0, head_dim = 0;
  int64_t window = 0;  // 0: full causal attention; else keys in (pos − window, pos]
};

// For T queries at positions pos0..pos0+T−1 of `layer` (q: [T][num_heads·head_dim],
// RoPE applied), whose keys and values are already in the cache, writes
// softmax(q·kᵀ/√head_dim)·v to out [T][num_heads·head_dim].
void attend(const KvCache& cache, int64_t layer, const AttentionShape& shape, const float* q, int64_t T,
            int64_t pos0, AttentionScratch& scratch, float* out);

}  // namespace slmkit::runtime
