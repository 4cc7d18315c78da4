// Dispatcher: activation quantization, per-thread scratch, OpenMP row
// partitioning, and the choice of kernel table by the active SIMD path.
#include "runtime/linear_kernels.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>
#include <new>

#include "core/error.h"
#include "runtime/kernels_internal.h"

namespace slmkit::runtime {
namespace detail {

namespace {
struct ScratchBuffer {
  uint8_t* data = nullptr;
  size_t capacity = 0;
  ~ScratchBuffer() { std::free(data); }
};
constexpr int kScratchSlots = 3;
thread_local ScratchBuffer t_scratch[kScratchSlots];
}  // namespace

uint8_t* thread_scratch(int slot, size_t bytes) {
  SLMKIT_ASSERT(slot >= 0 && slot < kScratchSlots, "scratch slot ", slot);
  ScratchBuffer& s = t_scratch[slot];
  if (bytes > s.capacity) {
    const size_t want = std::max(bytes, s.capacity * 3 / 2 + 64);
    const size_t rounded = (want + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, rounded);
    if (!p) throw std::bad_alloc();
    std::free(s.data);
    s.data = static_cast<uint8_t*>(p);
    s.capacity = rounded;
  }
  return s.data;
}

}  // namespace detail

namespace {

using detail::ActBatchQ8;
using detail::ActQ8;
using detail::KernelTable;

const KernelTable& active_table() {
  switch (active_simd_path()) {
    case SimdPath::kAvx512Vnni:
      return *detail::kernels_avx512();
    case SimdPath::kAvx2:
      return *detail::kernels_avx2();
    case SimdPath::kScalar:
      break;
  }
  return detail::kernels_scalar();
}

// Below this many weight bytes a matvec runs on the calling thread alone (the
// OpenMP fork/join costs a few microseconds).
constexpr int64_t kParallelMinBytes = 64 * 1024;
// Below this many tokens matmul runs the matvec kernel per token.
constexpr int64_t kMatmulMinTokens = 4;

int thread_count(int64_t work_bytes) {
  return work_bytes < kParallelMinBytes ? 1 : std::max(1, omp_get_max_threads());
}

size_t align64(size_t n) { return (n + 63) / 64 * 64; }

// Runs body(thread, threads) on nt OpenMP threads. An exception from any thread
// (a failed scratch allocation) is rethrown on the caller after the region.
template <typename Body>
void parallel_region(int nt, Body&& body) {
  if (nt == 1) {
    body(0, 1);
    return;
  }
  std::exception_ptr error;
#pragma omp parallel num_threads(nt)
  {
    try {
      body(omp_get_thread_num(), omp_get_num_threads());
    } catch (...) {
#pragma omp critical(slmkit_kernel_error)
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
}

// Thread `tid`'s share [r0, r1) of `rows` rows, in whole units of `align` rows.
void row_share(int64_t rows, int64_t align, int tid, int nth, int64_t& r0, int64_t& r1) {
  const int64_t units = (rows + align - 1) / align;
  r0 = std::min(rows, units * tid / nth * align);
  r1 = std::min(rows, units * (tid + 1) / nth * align);
}

// Bytes of one token's quantized activations in scratch: codes, then sx and c.
size_t act_bytes(const PackedLinear& w) {
  return align64(static_cast<size_t>(w.k_padded)) + 2 * sizeof(float) * static_cast<size_t>(detail::padded_blocks(w.n_blocks));
}

// Quantizes x into `base` (laid out as act_bytes describes) and returns the view.
ActQ8 quantize_into(const PackedLinear& w, const float* x, uint8_t* base) {
  const int64_t pb = detail::padded_blocks(w.n_blocks);
  int8_t* q = reinterpret_cast<int8_t*>(base);
  float* sx = reinterpret_cast<float*>(base + align64(static_cast<size_t>(w.k_padded)));
  float* c = sx + pb;
  quantize_activations(w, x, q, sx, c);
  for (int64_t b = w.n_blocks; b < pb; ++b) sx[b] = c[b] = 0.0f;
  return {q, sx, c};
}

bool same_input_order(const PackedLinear& a, const PackedLinear& b) {
  return a.k_padded == b.k_padded && a.in_features == b.in_features && a.in_index == b.in_index;
}

void run_matvec_rows(const KernelTable& k, const PackedLinear& w, const ActQ8* act, const float* x, int64_t r0,
                     int64_t r1, float* y) {
  switch (w.format) {
    case WeightFormat::kInt4:
      k.matvec_q4(w, *act, r0, r1, y);
      return;
    case WeightFormat::kInt8:
      k.matvec_q8(w, *act, r0, r1, y);
      return;
    case WeightFormat::kDense:
      break;
  }
  switch (w.dense_dtype) {
    case DType::F16:
      k.matvec_f16(w, x, r0, r1, y);
      return;
    case DType::BF16:
      k.matvec_bf16(w, x, r0, r1, y);
      return;
    default:
      k.matvec_f32(w, x, r0, r1, y);
  }
}

void add_bias(const float* bias, int64_t r0, int64_t r1, float* y) {
  if (bias)
    for (int64_t r = r0; r < r1; ++r) y[r] += bias[r];
}

}  // namespace

void quantize_activations(const PackedLinear& w, const float* x, int8_t* q, float* sx, float* sum_scaled) {
  SLMKIT_ASSERT(w.format != WeightFormat::kDense, "dense weights take fp32 activations");
  const int64_t in = w.in_features;
  const int32_t* idx = w.in_index.empty() ? nullptr : w.in_index.data();
  for (int64_t b = 0; b < w.n_blocks; ++b) {
    float v[32];
    for (int k = 0; k < 32; ++k) {
      const int64_t pos = b * 32 + k;
      const int64_t col = idx ? idx[pos] : (pos < in ? pos : -1);
      v[k] = col >= 0 ? x[col] : 0.0f;
    }
    // max |x| on the bit patterns: integer max vectorizes, and NaN/inf patterns
    // compare above every finite value, so they cannot be skipped.
    uint32_t amax_bits = 0;
    for (int k = 0; k < 32; ++k) {
      uint32_t bits;
      std::memcpy(&bits, &v[k], 4);
      amax_bits = std::max(amax_bits, bits & 0x7FFFFFFFu);
    }
    int8_t* qb = q + b * 32;
    if (amax_bits == 0 || amax_bits >= 0x7F800000u) {
      // All zero; or a NaN/inf in the block, which must reach the output: a NaN scale does that.
      std::memset(qb, 0, 32);
      sx[b] = sum_scaled[b] = amax_bits == 0 ? 0.0f : std::numeric_limits<float>::quiet_NaN();
      continue;
    }
    float amax;
    std::memcpy(&amax, &amax_bits, 4);
    const float inv = 127.0f / amax;
    int sum = 0;
    for (int k = 0; k < 32; ++k) {
      const float r = std::nearbyint(v[k] * inv);
      const int c = static_cast<int>(std::min(127.0f, std::max(-127.0f, r)));
      qb[k] = static_cast<int8_t>(c);
      sum += c;
    }
    sx[b] = amax / 127.0f;
    sum_scaled[b] = sx[b] * static_cast<float>(sum);
  }
}

void matvec_fused(const MatvecTask* tasks, int count, const float* x) {
  if (count <= 0) return;
  // At most a handful of layers: fixed arrays keep the decode path allocation-free.
  constexpr int kMaxTasks = 16;
  SLMKIT_CHECK(count <= kMaxTasks, "matvec_fused takes at most ", kMaxTasks, " layers, got ", count);
  const KernelTable& k = active_table();
  // Quantize x once per distinct packed input order: layout_at[i] is the byte
  // offset of task i's activations in scratch (−1: dense, fp32 x).
  int64_t layout_at[kMaxTasks];
  int64_t work = 0, rows = 0;
  size_t scratch = 0;
  for (int i = 0; i < count; ++i) {
    const PackedLinear& w = *tasks[i].w;
    SLMKIT_CHECK(w.in_features == tasks[0].w->in_features, "matvec_fused: layers take inputs of different sizes (",
                 tasks[0].w->in_features, " and ", w.in_features, ")");
    work += w.weight_bytes();
    rows += w.out_features;
    layout_at[i] = -1;
    if (w.format == WeightFormat::kDense) continue;
    for (int j = 0; j < i && layout_at[i] < 0; ++j)
      if (layout_at[j] >= 0 && same_input_order(*tasks[j].w, w)) layout_at[i] = layout_at[j];
    if (layout_at[i] < 0) {
      layout_at[i] = static_cast<int64_t>(scratch);
      scratch += act_bytes(w);
    }
  }
  uint8_t* base = scratch ? detail::thread_scratch(0, scratch) : nullptr;
  ActQ8 acts[kMaxTasks];
  for (int i = 0; i < count; ++i) {
    if (layout_at[i] < 0) continue;
    int shared = -1;
    for (int j = 0; j < i && shared < 0; ++j)
      if (layout_at[j] == layout_at[i]) shared = j;
    acts[i] = shared >= 0 ? acts[shared] : quantize_into(*tasks[i].w, x, base + layout_at[i]);
  }
  parallel_region(thread_count(work), [&](int tid, int nthreads) {
    int64_t g0, g1;
    row_share(rows, 1, tid, nthreads, g0, g1);
    int64_t offset = 0;
    for (int i = 0; i < count; ++i) {
      const PackedLinear& w = *tasks[i].w;
      const int64_t lo = std::max(g0, offset) - offset, hi = std::min(g1, offset + w.out_features) - offset;
      if (lo < hi) {
        run_matvec_rows(k, w, &acts[i], x, lo, hi, tasks[i].y);
        add_bias(tasks[i].bias, lo, hi, tasks[i].y);
      }
      offset += w.out_features;
    }
  });
}

void matvec(const PackedLinear& w, const float* x, const float* bias, float* y) {
  const MatvecTask task{&w, bias, y};
  matvec_fused(&task, 1, x);
}

void matmul(const PackedLinear& w, const float* x, int64_t n, const float* bias, float* y) {
  if (n <= 0) return;
  if (n == 1) {
    matvec(w, x, bias, y);
    return;
  }
  const int64_t in = w.in_features, out = w.out_features;
  const int nt = thread_count(w.weight_bytes() * n);
  if (w.format == WeightFormat::kDense) {
    parallel_region(nt, [&](int tid, int nth) {
      int64_t r0, r1;
      row_share(out, 64, tid, nth, r0, r1);
      if (r0 < r1) detail::dense_matmul_rows(w, x, n, r0, r1, y);
      for (int64_t t = 0; t < n; ++t) add_bias(bias, r0, r1, y + t * out);
    });
    return;
  }
  const KernelTable& k = active_table();
  const size_t per_token = act_bytes(w);
  uint8_t* base = detail::thread_scratch(0, per_token * static_cast<size_t>(n));
  ActBatchQ8 acts;
  acts.q = reinterpret_cast<const int8_t*>(base);
  acts.sx = reinterpret_cast<const float*>(base + align64(static_cast<size_t>(w.k_padded)));
  acts.c = acts.sx + detail::padded_blocks(w.n_blocks);
  acts.q_stride = static_cast<int64_t>(per_token);
  acts.s_stride = static_cast<int64_t>(per_token / sizeof(float));
  acts.n = n;
  const detail::MatmulQFn mm = w.format == WeightFormat::kInt4 ? k.matmul_q4 : k.matmul_q8;
  parallel_region(nt, [&](int tid, int nth) {
    int64_t t0, t1;
    row_share(n, 1, tid, nth, t0, t1);
    for (int64_t t = t0; t < t1; ++t) quantize_into(w, x + t * in, base + static_cast<size_t>(t) * per_token);
#pragma omp barrier
    int64_t r0, r1;
    row_share(out, detail::kPanelRows, tid, nth, r0, r1);
    if (r0 >= r1) return;
    if (n < kMatmulMinTokens) {
      for (int64_t t = 0; t < n; ++t) {
        const ActQ8 a = acts.token(t);
        run_matvec_rows(k, w, &a, nullptr, r0, r1, y + t * out);
      }
    } else {
      mm(w, acts, r0, r1, y, out);
    }
    for (int64_t t = 0; t < n; ++t) add_bias(bias, r0, r1, y + t * out);
  });
}

void reserve_kernel_scratch(int64_t max_in_features, int64_t max_tokens) {
  const int64_t kp = (max_in_features + 63) / 64 * 64 + 64;
  const size_t per_token = align64(static_cast<size_t>(kp)) + 2 * sizeof(float) * static_cast<size_t>(detail::padded_blocks(kp / 32));
  detail::thread_scratch(0, per_token * static_cast<size_t>(std::max<int64_t>(max_tokens, 1)));
  // Matmul panels: 32 rows of codes plus per-block scales, or 64 fp32 dense rows.
  const size_t panel = std::max(static_cast<size_t>(48 * kp + 4096), sizeof(float) * 64 * static_cast<size_t>(kp));
  parallel_region(std::max(1, omp_get_max_threads()), [&](int, int) { detail::thread_scratch(2, panel); });
}

void matvec_reference(const PackedLinear& w, const float* x, const float* bias, float* y) {
  const int64_t out = w.out_features, in = w.in_features;
  if (w.format == WeightFormat::kDense) {
    const std::vector<float> d = dequantize(w);
    for (int64_t o = 0; o < out; ++o) {
      double acc = 0.0;
      for (int64_t i = 0; i < in; ++i) acc += static_cast<double>(d[static_cast<size_t>(o * in + i)]) * x[i];
      y[o] = static_cast<float>(acc + (bias ? bias[o] : 0.0f));
    }
    return;
  }
  std::vector<int8_t> q(static_cast<size_t>(w.k_padded));
  std::vector<float> sx(static_cast<size_t>(w.n_blocks)), c(static_cast<size_t>(w.n_blocks));
  quantize_activations(w, x, q.data(), sx.data(), c.data());
  for (int64_t o = 0; o < out; ++o) {
    double acc = 0.0;
    for (int64_t b = 0; b < w.n_blocks; ++b) {
      const int z = detail::block_zero(w, o, b);
      int64_t dot = 0;
      for (int k = 0; k < 32; ++k) dot += static_cast<int64_t>(detail::block_code(w, o, b, k) - z) * q[static_cast<size_t>(b * 32 + k)];
      acc += static_cast<double>(f16_to_f32(w.scales.get()[o * w.n_blocks + b])) * sx[static_cast<size_t>(b)] *
             static_cast<double>(dot);
    }
    y[o] = static_cast<float>(acc + (bias ? bias[o] : 0.0f));
  }
}

void matmul_reference(const PackedLinear& w, const float* x, int64_t n, const float* bias, float* y) {
  for (int64_t t = 0; t < n; ++t) matvec_reference(w, x + t * w.in_features, bias, y + t * w.out_features);
}

}  // namespace slmkit::runtime
