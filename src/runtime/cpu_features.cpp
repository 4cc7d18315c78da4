#include "runtime/cpu_features.h"

#include <atomic>

#include "core/error.h"
#include "runtime/kernels_internal.h"

namespace slmkit::runtime {
namespace {

bool cpu_supports(SimdPath path) {
#if defined(__x86_64__) || defined(__i386__)
  switch (path) {
    case SimdPath::kScalar:
      return true;
    case SimdPath::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    case SimdPath::kAvx512Vnni:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni") &&
             __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  }
  return false;
#else
  return path == SimdPath::kScalar;
#endif
}

bool compiled_in(SimdPath path) {
  switch (path) {
    case SimdPath::kScalar:
      return true;
    case SimdPath::kAvx2:
      return detail::kernels_avx2() != nullptr;
    case SimdPath::kAvx512Vnni:
      return detail::kernels_avx512() != nullptr;
  }
  return false;
}

// -1: not forced.
std::atomic<int> g_forced{-1};

}  // namespace

const char* simd_path_name(SimdPath path) {
  switch (path) {
    case SimdPath::kScalar:
      return "scalar";
    case SimdPath::kAvx2:
      return "avx2";
    case SimdPath::kAvx512Vnni:
      return "avx512vnni";
  }
  return "?";
}

bool simd_path_available(SimdPath path) { return compiled_in(path) && cpu_supports(path); }

std::vector<SimdPath> available_simd_paths() {
  std::vector<SimdPath> paths;
  for (SimdPath p : {SimdPath::kScalar, SimdPath::kAvx2, SimdPath::kAvx512Vnni})
    if (simd_path_available(p)) paths.push_back(p);
  return paths;
}

SimdPath best_simd_path() {
  static const SimdPath best = available_simd_paths().back();
  return best;
}

SimdPath active_simd_path() {
  const int forced = g_forced.load(std::memory_order_relaxed);
  return forced < 0 ? best_simd_path() : static_cast<SimdPath>(forced);
}

void force_simd_path(SimdPath path) {
  SLMKIT_CHECK(simd_path_available(path), "SIMD path ", simd_path_name(path),
               " is not available on this CPU or in this build (available: the best is ",
               simd_path_name(best_simd_path()), ")");
  g_forced.store(static_cast<int>(path), std::memory_order_relaxed);
}

void reset_simd_path() { g_forced.store(-1, std::memory_order_relaxed); }

}  // namespace slmkit::runtime
