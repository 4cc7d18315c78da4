# Detects the host's vector extensions at configure time. With SLMKIT_NATIVE=ON
# the build targets the host (-march=native) and records which of AVX2 / AVX-512
# it found; with OFF it builds portable x86-64 (or generic) code.
include(CheckCXXCompilerFlag)
include(CheckCXXSourceRuns)
set(SLMKIT_SIMD_FLAGS "")
set(SLMKIT_SIMD_LEVEL "portable")
if(SLMKIT_NATIVE)
  check_cxx_compiler_flag(-march=native SLMKIT_HAS_MARCH_NATIVE)
  if(SLMKIT_HAS_MARCH_NATIVE)
    set(SLMKIT_SIMD_FLAGS -march=native)
    set(CMAKE_REQUIRED_FLAGS -march=native)
    check_cxx_source_runs("#include <immintrin.h>
      int main(){ __m512 a = _mm512_set1_ps(1.f); return (int)_mm512_reduce_add_ps(a) == 16 ? 0 : 1; }"
      SLMKIT_HOST_AVX512)
    check_cxx_source_runs("#include <immintrin.h>
      int main(){ __m256 a = _mm256_set1_ps(1.f); __m256 b = _mm256_fmadd_ps(a, a, a);
        float o[8]; _mm256_storeu_ps(o, b); return o[0] == 2.f ? 0 : 1; }"
      SLMKIT_HOST_AVX2)
    unset(CMAKE_REQUIRED_FLAGS)
    if(SLMKIT_HOST_AVX512)
      set(SLMKIT_SIMD_LEVEL "avx512")
    elseif(SLMKIT_HOST_AVX2)
      set(SLMKIT_SIMD_LEVEL "avx2")
    else()
      set(SLMKIT_SIMD_LEVEL "native")
    endif()
  endif()
endif()
message(STATUS "slmkit SIMD level: ${SLMKIT_SIMD_LEVEL} (flags: ${SLMKIT_SIMD_FLAGS})")
add_compile_definitions(SLMKIT_SIMD_LEVEL="${SLMKIT_SIMD_LEVEL}")
# Every target uses the same flags: precompiled headers must match exactly.
add_compile_options(${SLMKIT_SIMD_FLAGS})
