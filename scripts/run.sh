#!/usr/bin/env bash
# The main job on the default model: evaluate it before and after compression
# and print the comparison table.
#   scripts/run.sh [MODEL_DIR]     (default: $SLMKIT_DATA/models/mixed-en-13m)
# Compression passes land issue by issue; today the "after" column is the
# bfloat16 conversion (half the bytes per weight), measured with the same
# WikiText-2 protocol as the original.
set -euo pipefail
cd "$(dirname "$0")/.."
export SLMKIT_DATA="${SLMKIT_DATA:-$(cd .. && pwd)/shared/data}"
model="${1:-$SLMKIT_DATA/models/mixed-en-13m}"
build="${BUILD_DIR:-build}"
if [ ! -x "$build/slmkit" ]; then
  scripts/install-deps.sh
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" -j "$(nproc)" --target slmkit
fi
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
for dtype in float32 bfloat16; do
  echo "== evaluating $dtype (WikiText-2 test, GPTQ protocol) ==" >&2
  "$build/slmkit" eval "$model" --dtype "$dtype" --json "$out/$dtype.json"
done
params=$(python3 -c "import json;print(json.load(open('$out/float32.json'))['parameters'])")
printf '\n| variant | bytes/weight | weights size | perplexity (GPTQ protocol) | eval time |\n|---|---|---|---|---|\n'
for dtype in float32 bfloat16; do
  python3 - "$out/$dtype.json" "$dtype" "$params" <<'PY'
import json, sys
j = json.load(open(sys.argv[1])); dtype = sys.argv[2]; params = int(sys.argv[3])
bpw = 4 if dtype == "float32" else 2
print(f"| {dtype} | {bpw} | {params*bpw/2**20:.1f} MiB | {j['perplexity']:.3f} ± {j['perplexity_stderr']:.3f} | {j['seconds']:.1f} s |")
PY
done
