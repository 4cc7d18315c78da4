#!/usr/bin/env bash
# The main job on the default model: quantize it to 4 bits with GPTQ, evaluate
# the original and the quantized model the same way, print the comparison.
#   scripts/run.sh [MODEL_DIR]     (default: $SLMKIT_DATA/models/mixed-en-13m)
# Environment: BITS (4), GROUP (128), METHOD (gptq), OUT (a temporary directory).
set -euo pipefail
cd "$(dirname "$0")/.."
export SLMKIT_DATA="${SLMKIT_DATA:-$(cd .. && pwd)/shared/data}"
model="${1:-$SLMKIT_DATA/models/mixed-en-13m}"
bits="${BITS:-4}" group="${GROUP:-128}" method="${METHOD:-gptq}"
build="${BUILD_DIR:-build}"
if [ ! -x "$build/slmkit" ]; then
  scripts/install-deps.sh
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" -j "$(nproc)" --target slmkit
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
out="${OUT:-$work/quantized}"

echo "== quantizing with $method, $bits-bit, group $group ==" >&2
"$build/slmkit" quantize "$model" --method "$method" --bits "$bits" --group-size "$group" --out "$out" --force \
  --json "$work/quantize.json" --quiet
echo "== evaluating the original (WikiText-2 test, GPTQ protocol) ==" >&2
"$build/slmkit" eval "$model" --json "$work/before.json" --quiet
echo "== evaluating the quantized model, with KL divergence against the original ==" >&2
"$build/slmkit" eval "$out" --kl-base "$model" --json "$work/after.json" --quiet

python3 - "$work" "$method" "$bits" "$group" <<'PY'
import json, sys
work, method, bits, group = sys.argv[1:]
q = json.load(open(f"{work}/quantize.json"))
b = json.load(open(f"{work}/before.json"))
a = json.load(open(f"{work}/after.json"))
mib = lambda n: n / 2**20
print()
print(f"| model | size (all tensors) | bits/weight (block linears) | WikiText-2 PPL | KL vs original | top-1 agreement |")
print(f"|---|---|---|---|---|---|")
print(f"| original fp32 | {mib(q['model_bytes_before']):.1f} MiB | 32 | {b['perplexity']:.3f} ± {b['perplexity_stderr']:.3f} | 0 | 100% |")
print(f"| {method} {bits}-bit g{group} | {mib(q['model_bytes_after']):.1f} MiB | {q['bits_per_weight']:.2f} | "
      f"{a['perplexity']:.3f} ± {a['perplexity_stderr']:.3f} | {a['kl']['mean']:.5f} | {100*a['kl']['top1_agreement']:.2f}% |")
print(f"\nquantization took {q['seconds']:.1f} s; evaluation: {b['tokens_scored']:,} tokens, context {b['context']}")
PY
