#include "core/blas_setup.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>

namespace slmkit {
namespace {

// Cores whose kernels predate AVX2: a fallback on any CPU that has it.
bool is_pre_avx2_core(const char* name) {
  for (const char* old : {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Sandybridge", "Atom", "Katmai",
                          "Coppermine", "Northwood", "Banias", "Unknown"})
    if (std::strcmp(name, old) == 0) return true;
  return false;
}

const char* best_core_for_this_cpu() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512dq"))
    return __builtin_cpu_supports("avx512bf16") ? "Cooperlake" : "SkylakeX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
  return nullptr;
}

}  // namespace

const char* blas_core_name() {
  using CoreNameFn = char* (*)();
  auto fn = reinterpret_cast<CoreNameFn>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  return fn != nullptr ? fn() : "";
}

void ensure_fast_blas(int argc, char** argv) {
  (void)argc;
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return;  // the user (or our re-exec) chose
  const char* core = blas_core_name();
  if (core == nullptr || *core == '\0' || !is_pre_avx2_core(core)) return;
  const char* better = best_core_for_this_cpu();
  if (better == nullptr) return;
  setenv("OPENBLAS_CORETYPE", better, 1);
  execv("/proc/self/exe", argv);
  // Re-execution failed: carry on with the slow kernels rather than stop.
  std::fprintf(stderr, "slmkit: note: OpenBLAS uses %s kernels; set OPENBLAS_CORETYPE=%s for faster matrix products\n",
               core, better);
}

}  // namespace slmkit
