#!/usr/bin/env bash
# One command: install dependencies, build (Release, -O3, host SIMD), run all tests.
#   scripts/test.sh            # build in ./build
#   BUILD_DIR=b scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
build="${BUILD_DIR:-build}"
scripts/install-deps.sh
export SLMKIT_DATA="${SLMKIT_DATA:-$(cd .. && pwd)/shared/data}"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build "$build" -j "$(nproc)"
# One test at a time: each test already uses every core through LibTorch/OpenMP.
(cd "$build" && ctest --output-on-failure --timeout 1200)
