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
constexpr int64_t kRows = 4;         // query rows (heads × queries) computed together
constexpr int64_t kTile = 16;        // keys per score tile, head_dim values per output slice

// The first key a query at `pos` sees.
int64_t first_key(const AttentionShape& s, int64_t pos) {
  return s.window > 0 ? std::max<int64_t>(0, pos - s.window + 1) : 0;
}

int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

// Queries t0..t0+tb−1 (positions pos0+t0..) of KV head g: the group's query heads
// of every query in the block, over keys [lo, last position]. Rows r = t·group + j
// are processed kRows at a time: each key tile (scores) and value slice (output)
// is loaded once for all of them, and the sums stay in registers.
void attend_block(const KvCache& cache, int64_t layer, const AttentionShape& s, int64_t g, const float* q,
                  int64_t t0, int64_t tb, int64_t pos0, float* keys_t, float* values, float* scores, float* rows,
                  float* out) {
  const int64_t hd = s.head_dim, group = s.num_heads / s.num_kv_heads, width = s.num_heads * hd;
  const int64_t lo = first_key(s, pos0 + t0), n = pos0 + t0 + tb - lo, stride = round_up(n, kTile);
  const bool f16 = cache.dtype() == KvDType::kF16;
  // Keys transposed to [hd][stride] (zero padded to whole tiles); values as float rows [n][hd].
  float* converted = rows + kRows * hd;
  for (int64_t i = 0; i < n; ++i) {
    const void* k = cache.key(layer, g, lo + i);
    const float* kf = static_cast<const float*>(k);
    if (f16) {
      f16_to_f32_row(static_cast<const uint16_t*>(k), converted, hd);
      kf = converted;
      f16_to_f32_row(static_cast<const uint16_t*>(cache.value(layer, g, lo + i)), values + i * hd, hd);
    }
    for (int64_t d = 0; d < hd; ++d) keys_t[d * stride + i] = kf[d];
  }
  for (int64_t d = 0; d < hd; ++d) std::fill(keys_t + d * stride + n, keys_t + (d + 1) * stride, 0.0f);
  auto value = [&](int64_t i) {
    return f16 ? values + i * hd : static_cast<const float*>(cache.value(layer, g, lo + i));
  };
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));

  const int64_t total = tb * group;
  for (int64_t r0 = 0; r0 < total; r0 += kRows) {
    const int64_t nr = std::min(kRows, total - r0);
    int64_t a[kRows], b[kRows];  // each row's keys: [a, b) relative to lo
    float* o[kRows];
    int64_t first = n, last = 0;
    for (int64_t r = 0; r < kRows; ++r) {
      const int64_t row = r0 + std::min(r, nr - 1);  // rows past the end repeat the last (not written)
      const int64_t t = row / group, j = row % group, pos = pos0 + t0 + t;
      a[r] = first_key(s, pos) - lo;
      b[r] = pos - lo + 1;
      first = std::min(first, a[r]);
      last = std::max(last, b[r]);
      o[r] = out + (t0 + t) * width + (g * group + j) * hd;
      const float* qr = q + (t0 + t) * width + (g * group + j) * hd;
      for (int64_t d = 0; d < hd; ++d) rows[r * hd + d] = qr[d] * scale;
    }
    // Scores of the kRows rows over keys [first, last), a tile of keys at a time.
    for (int64_t i = first - first % kTile; i < last; i += kTile) {
      float acc[kRows][kTile] = {};
      for (int64_t d = 0; d < hd; ++d) {
        const float* kd = keys_t + d * stride + i;
        for (int64_t r = 0; r < kRows; ++r) {
          const float qd = rows[r * hd + d];
#pragma omp simd
          for (int64_t ii = 0; ii < kTile; ++ii) acc[r][ii] += qd * kd[ii];
        }
      }
      for (int64_t r = 0; r < kRows; ++r) std::copy(acc[r], acc[r] + kTile, scores + r * stride + i);
    }
    // Softmax per row in float32 (as the reference); zero outside the row's keys.
    for (int64_t r = 0; r < kRows; ++r) {
      float* p = scores + r * stride;
      const float m = *std::max_element(p + a[r], p + b[r]);
      float sum = 0;
      for (int64_t i = a[r]; i < b[r]; ++i) sum += (p[i] = std::exp(p[i] - m));
      const float inv = 1.0f / sum;
      for (int64_t i = a[r]; i < b[r]; ++i) p[i] *= inv;
      std::fill(p + first, p + a[r], 0.0f);
      std::fill(p + b[r], p + last, 0.0f);
    }
    // Outputs: Σ_i p[r][i]·v_i, a slice of kTile values at a time, then the tail.
    int64_t d0 = 0;
    for (; d0 + kTile <= hd; d0 += kTile) {
      float acc[kRows][kTile] = {};
      for (int64_t i = first; i < last; ++i) {
        const float* v = value(i) + d0;
        for (int64_t r = 0; r < kRows; ++r) {
          const float w = scores[r * stride + i];
#pragma omp simd
          for (int64_t ii = 0; ii < kTile; ++ii) acc[r][ii] += w * v[ii];
        }
      }
      for (int64_t r = 0; r < nr; ++r) std::copy(acc[r], acc[r] + kTile, o[r] + d0);
    }
    if (d0 < hd) {
      for (int64_t r = 0; r < nr; ++r) {
        std::fill(o[r] + d0, o[r] + hd, 0.0f);
        for (int64_t i = first; i < last; ++i) axpy(scores[r * stride + i], value(i) + d0, o[r] + d0, hd - d0);
      }
    }
  }
}

}  // namespace

AttentionScratch::AttentionScratch(int threads, int64_t capacity, int64_t head_dim)
    : threads_(threads),
      keys_stride_(static_cast<size_t>(round_up(capacity, kTile) * head_dim)),
      scores_stride_(static_cast<size_t>(kRows * round_up(capacity, kTile))),
      rows_stride_(static_cast<size_t>((kRows + 1) * head_dim)),
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
                 scratch.rows(tid), out);
  }
}

}  // namespace slmkit::runtime
