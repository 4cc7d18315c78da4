#!/usr/bin/env bash
# Installs slmkit's build and test dependencies from Debian 12 packages.
# libopenblas0-openmp matters: without it LibTorch falls back to reference BLAS
# and matrix products run 15-30x slower.
set -euo pipefail
packages=(
  build-essential cmake ninja-build pkg-config
  libtorch-dev libopenblas0-openmp libeigen3-dev
  libboost-program-options-dev nlohmann-json3-dev libyaml-cpp-dev libpcre2-dev libutf8proc-dev
  libgtest-dev libsentencepiece-dev   # the SentencePiece library is a test oracle only
  clang-14 libclang-rt-14-dev llvm-14   # libFuzzer targets (fuzz/) and llvm-symbolizer for sanitizer reports
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi
