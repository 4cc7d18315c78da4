#!/usr/bin/env bash
# GPTQ speed at a realistic size (issue 3): a SmolLM2-135M-shaped model with random
# weights, 4-bit g128, calibrated on 128 x 512 WikiText-2 tokens, on THREADS cores.
# Prints the time per block and the peak RSS from quantize's JSON report.
#   bench/gptq_smollm2.sh [WORK_DIR] [THREADS]
set -euo pipefail
work="${1:-/tmp/slmkit-gptq-smollm2}"; threads="${2:-2}"
slmkit="${SLMKIT_BIN:-$(dirname "$0")/../build/slmkit}"
mkdir -p "$work"
[ -s "$work/model/config.json" ] || "$slmkit" synth --shape smollm2-135m --out "$work/model" --force
"$slmkit" quantize "$work/model" --method gptq --bits 4 --group-size 128 --calib-samples 128 --calib-seq-len 512 \
  --threads "$threads" --out "$work/q4" --force -q --json "$work/q4.json"
python3 - "$work/q4.json" <<'PY'
import json, sys, statistics
j = json.load(open(sys.argv[1]))
b = j["block_seconds"]
print(f"GPTQ 4-bit g128, {len(b)} blocks, {j['threads']} threads: total {j['seconds']:.1f} s, "
      f"per block median {statistics.median(b):.2f} s (min {min(b):.2f}, max {max(b):.2f}), "
      f"peak RSS {j['peak_rss_bytes'] / 2**20:.0f} MiB")
PY
