#include "runtime/kernels_bandwidth.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <new>

namespace slmkit::runtime {
namespace {

double* alloc_doubles(int64_t n) {
  void* p = std::aligned_alloc(64, static_cast<size_t>((n * 8 + 63) / 64 * 64));
  if (!p) throw std::bad_alloc();
  return static_cast<double*>(p);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

double measure_triad_bandwidth_gbs(int threads, int64_t bytes_per_array, int repeats) {
  threads = std::max(1, threads);
  const int64_t n = std::max<int64_t>(bytes_per_array / 8, 1024);
  double* a = alloc_doubles(n);
  double* b = alloc_doubles(n);
  double* c = alloc_doubles(n);
  // First touch by the threads that later stream each part (NUMA placement).
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    a[i] = 0.0;
    b[i] = 1.0;
    c[i] = 2.0;
  }
  const double s = 3.0;
  double best = 0.0;
  for (int rep = 0; rep < std::max(1, repeats); ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t i = 0; i < n; ++i) a[i] = b[i] + s * c[i];
    const double sec = seconds_since(t0);
    best = std::max(best, 24.0 * static_cast<double>(n) / sec / 1e9);
  }
  volatile double sink = a[n / 2];
  (void)sink;
  std::free(a);
  std::free(b);
  std::free(c);
  return best;
}

double measure_read_bandwidth_gbs(int threads, int64_t bytes, int repeats) {
  threads = std::max(1, threads);
  // Integer sums: the compiler may vectorize them (float sums it may not reorder).
  const int64_t n = std::max<int64_t>(bytes / 8, 1024);
  uint64_t* a = reinterpret_cast<uint64_t*>(alloc_doubles(n));
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t i = 0; i < n; ++i) a[i] = static_cast<uint64_t>(i & 7);
  double best = 0.0;
  uint64_t total = 0;
  for (int rep = 0; rep < std::max(1, repeats); ++rep) {
    uint64_t sum = 0;
    const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel for num_threads(threads) schedule(static) reduction(+ : sum)
    for (int64_t i = 0; i < n; ++i) sum += a[i];
    const double sec = seconds_since(t0);
    total += sum;
    best = std::max(best, 8.0 * static_cast<double>(n) / sec / 1e9);
  }
  volatile uint64_t sink = total;
  (void)sink;
  std::free(a);
  return best;
}

}  // namespace slmkit::runtime
