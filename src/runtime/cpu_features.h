// Which SIMD kernels this CPU can run, decided at run time.
//
// The runtime's kernels exist in several versions compiled into every build
// (function-level target attributes, so a portable -DSLMKIT_NATIVE=OFF build
// still carries them); CPUID picks one when the first kernel runs. Tests and
// benches may force a slower path to compare it with the others.
#pragma once

#include <vector>

namespace slmkit::runtime {

enum class SimdPath {
  kScalar,      // portable C++: the fallback, and the baseline every fast path is tested against
  kAvx2,        // AVX2 + FMA + F16C: vpmaddubsw integer dots (Haswell / Zen 1 and later)
  kAvx512Vnni,  // AVX-512 F/BW/VL + VNNI: vpdpbusd integer dots (Ice Lake / Zen 4 and later)
};

// "scalar", "avx2", "avx512vnni".
const char* simd_path_name(SimdPath path);

// Whether this CPU supports `path` and this build carries its kernels.
bool simd_path_available(SimdPath path);

// Every available path, slowest first (kScalar is always there).
std::vector<SimdPath> available_simd_paths();

// The fastest available path.
SimdPath best_simd_path();

// The path the kernels use now: best_simd_path() unless forced.
SimdPath active_simd_path();

// Makes every kernel use `path` (throws slmkit::Error when it is not available).
// Not thread-safe against kernels running at the same moment: call it between runs.
void force_simd_path(SimdPath path);

// Back to best_simd_path().
void reset_simd_path();

}  // namespace slmkit::runtime
