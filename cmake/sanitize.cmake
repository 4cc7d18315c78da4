# SLMKIT_SANITIZE=ON builds every target with AddressSanitizer and
# UndefinedBehaviorSanitizer (gcc or clang; LibTorch itself stays uninstrumented,
# which ASan supports). Any UB report aborts the test that caused it
# (-fno-sanitize-recover), so a sanitizer finding fails the suite.
#
#   cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSLMKIT_SANITIZE=ON
#
# Run the tests with ASAN_OPTIONS=detect_leaks=0 for the LibTorch binaries (its
# static state is never freed); the LibTorch-free ones (test_io, test_tokenizer,
# test_reliability) run with leak detection on. scripts/test.sh does both.
if(SLMKIT_SANITIZE)
  set(SLMKIT_SANITIZE_FLAGS -fsanitize=address,undefined -fno-sanitize-recover=undefined
      -fno-omit-frame-pointer)
  add_compile_options(${SLMKIT_SANITIZE_FLAGS})
  add_link_options(${SLMKIT_SANITIZE_FLAGS})
  # -O1 keeps stack traces exact and compiles ~2x faster than -O3.
  set(CMAKE_CXX_FLAGS_RELWITHDEBINFO "-O1 -g")
  message(STATUS "slmkit: ASan + UBSan build")
endif()
