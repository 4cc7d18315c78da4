#include "runtime/attention.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "runtime/vector_ops.h"

namespace slmkit::runtime {
namespace {

constexpr int64_t kQueryBlock = 16;  // queries per work item: they share the transposed keys
constexpr int64_t kKeyTile = 16;     // scores computed per register tile

// The first key a query at `pos` sees.
int64_t first_key(const AttentionShape& s, int64_t pos) {
  return s.window > 0 ? std::max<int64_t>(0, pos - s.window + 1) : 0;
}

int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

// Queries t0..t0+tb−1 (positions pos0+t0..) of KV head g: the group's query heads
// of every query in the block, over keys [lo, last position].
void attend_block(const KvCache& cache, int64_t layer, const AttentionShape& s, int64_t g, const float* q,
                  int64_t t0, int64_t tb, int64_t pos0, float* keys_t, float* values, float* scores, float* row,
                  float* out) {
  const int64_t hd = s.head_dim, group = s.num_heads / s.num_kv_heads, width = s.num_heads * hd;
  const int64_t lo = first_key(s, pos0 + t0), n = pos0 + t0 + tb - lo, stride = round_up(n, kKeyTile);
  const bool f16 = cache.dtype() == KvDType::kF16;
  // Keys transposed to [hd][stride] (zero padded to whole tiles); fp16 values converted to [n][hd].
  for (int64_t i = 0; i < n; ++i) {
    const void* k = cache.key(layer, g, lo + i);
    const float* kf = static_cast<const float*>(k);
    if (f16) {
      f16_to_f32_row(static_cast<const uint16_t*>(k), row, hd);
      kf = row;
      f16_to_f32_row(static_cast<const uint16_t*>(cache.value(layer, g, lo + i)), values + i * hd, hd);
    }
    for (int64_t d = 0; d < hd; ++d) keys_t[d * stride + i] = kf[d];
  }
  for (int64_t d = 0; d < hd; ++d) std::fill(keys_t + d * stride + n, keys_t + (d + 1) * stride, 0.0f);
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
  float* qs = row;  // the scaled query row (row is free once the keys are transposed)
  for (int64_t t = 0; t < tb; ++t) {
    const int64_t pos = pos0 + t0 + t;
    const int64_t a = first_key(s, pos) - lo, b = pos - lo + 1;  // this query's keys: [a, b)
    for (int64_t j = 0; j < group; ++j) {
      const float* qr = q + (t0 + t) * width + (g * group + j) * hd;
      for (int64_t d = 0; d < hd; ++d) qs[d] = qr[d] * scale;
      // Scores a tile of keys at a time, accumulated in registers over head_dim.
      for (int64_t i = a - a % kKeyTile; i < b; i += kKeyTile) {
        float acc[kKeyTile] = {};
        for (int64_t d = 0; d < hd; ++d) {
          const float qd = qs[d];
          const float* kd = keys_t + d * stride + i;
#pragma omp simd
          for (int64_t ii = 0; ii < kKeyTile; ++ii) acc[ii] += qd * kd[ii];
        }
        std::copy(acc, acc + kKeyTile, scores + i);
      }
      // Softmax in float32, as the reference.
      const float m = *std::max_element(scores + a, scores + b);
      float sum = 0;
      for (int64_t i = a; i < b; ++i) sum += (scores[i] = std::exp(scores[i] - m));
      const float inv = 1.0f / sum;
      float* o = out + (t0 + t) * width + (g * group + j) * hd;
      std::memset(o, 0, static_cast<size_t>(hd) * sizeof(float));
      for (int64_t i = a; i < b; ++i) {
        const float* v = f16 ? values + i * hd : static_cast<const float*>(cache.value(layer, g, lo + i));
        axpy(scores[i] * inv, v, o, hd);
      }
    }
  }
}

}  // namespace

AttentionScratch::AttentionScratch(int threads, int64_t capacity, int64_t head_dim)
    : threads_(threads),
      keys_stride_(static_cast<size_t>(round_up(capacity, kKeyTile) * head_dim)),
      scores_stride_(static_cast<size_t>(round_up(capacity, kKeyTile))),
      rows_stride_(static_cast<size_t>(head_dim)),
      keys_t_(static_cast<size_t>(threads) * keys_stride_),
      values_(static_cast<size_t>(threads) * keys_stride_),
      scores_(static_cast<size_t>(threads) * scores_stride_),
      rows_(static_cast<size_t>(threads) * rows_stride_) {}

void attend(const KvCache& cache, int64_t layer, const AttentionShape& s, const float* q, int64_t T, int64_t pos0,
            AttentionScratch& scratch, float* out) {
  SLMKIT_ASSERT(pos0 + T <= cache.capacity(), "attention past the cache capacity");
  const int64_t block = kQueryBlock, blocks = (T + block - 1) / block;
  const int64_t items = s.num_kv_heads * blocks;
  const int threads = std::min<int>(scratch.threads(), static_cast<int>(items));
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1) if (threads > 1)
  for (int64_t item = 0; item < items; ++item) {
    // Last blocks first: they see the most keys, so the dynamic schedule balances.
    const int64_t b = blocks - 1 - item / s.num_kv_heads, g = item % s.num_kv_heads;
    const int64_t t0 = b * block, tb = std::min(block, T - t0);
    const int tid = omp_get_thread_num();
    attend_block(cache, layer, s, g, q, t0, tb, pos0, scratch.keys_t(tid), scratch.values(tid), scratch.scores(tid),
                 scratch.row(tid), out);
  }
}

}  // namespace slmkit::runtime
