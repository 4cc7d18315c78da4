#!/usr/bin/env bash
# One command: install dependencies, build (Release, -O3, host SIMD), run all tests;
# then the reliability checks (issue 9): the LibTorch-free test binaries under
# ASan+UBSan and a short run of every fuzz target.
#   scripts/test.sh            # build in ./build (ASan in ./build-asan, fuzz in ./build-fuzz)
#   BUILD_DIR=b scripts/test.sh
#   SLMKIT_CI_RELIABILITY=0 scripts/test.sh     # skip the sanitizer and fuzz part
#   FUZZ_SECONDS=20 scripts/test.sh             # seconds per fuzz target (default 15)
set -euo pipefail
cd "$(dirname "$0")/.."
build="${BUILD_DIR:-build}"
scripts/install-deps.sh
export SLMKIT_DATA="${SLMKIT_DATA:-$(cd .. && pwd)/shared/data}"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build "$build" -j "$(nproc)"
# One test at a time: each test already uses every core through LibTorch/OpenMP.
(cd "$build" && ctest --output-on-failure --timeout 1200)

if [ "${SLMKIT_CI_RELIABILITY:-1}" = 1 ]; then
  # The whole suite under ASan does not fit CI's time (LibTorch-linked tests are
  # built and run once locally: docs/RESULTS.md); the readers, tokenizers and
  # kernels, which is where untrusted bytes are parsed, are checked on every run.
  asan="${ASAN_BUILD_DIR:-build-asan}"
  cmake -S . -B "$asan" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSLMKIT_SANITIZE=ON -DSLMKIT_BUILD_BENCH=OFF
  asan_tests=(test_io test_tokenizer test_kernels test_reliability)
  cmake --build "$asan" -j "$(nproc)" --target "${asan_tests[@]}"
  for t in "${asan_tests[@]}"; do
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 "$asan/tests/$t" --gtest_brief=1
  done
  scripts/fuzz.sh -b "${FUZZ_BUILD_DIR:-build-fuzz}" -t "${FUZZ_SECONDS:-15}" -j "$(nproc)"
fi
