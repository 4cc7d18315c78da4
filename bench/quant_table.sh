#!/usr/bin/env bash
# The quantization quality table of docs/RESULTS.md (issue 3) for one model:
# RTN / GPTQ / GPTQ act-order / AWQ at 4-bit g32, 3-bit g32 and 4-bit per-row,
# calibrated on WikiText-2 valid (128 windows of the model's context, seed 0),
# evaluated with the GPTQ protocol on WikiText-2 test, KL over the first 64 windows.
#   bench/quant_table.sh MODEL_DIR WORK_DIR [THREADS]
# Each cell's JSON stays in WORK_DIR (rerunning skips finished cells); the Markdown
# table is printed at the end.
set -euo pipefail
model="$1"; work="$2"; threads="${3:-2}"
slmkit="${SLMKIT_BIN:-$(dirname "$0")/../build/slmkit}"
mkdir -p "$work"
settings=("4b-g32:--bits 4 --group-size 32" "3b-g32:--bits 3 --group-size 32" "4b-row:--bits 4 --group-size -1")
methods=("rtn:--method rtn" "gptq:--method gptq" "gptq-ao:--method gptq --act-order" "awq:--method awq")
[ -s "$work/fp32.eval.json" ] || "$slmkit" eval "$model" --threads "$threads" --json "$work/fp32.eval.json" >/dev/null
for s in "${settings[@]}"; do
  for m in "${methods[@]}"; do
    cell="${s%%:*}-${m%%:*}"
    [ -s "$work/$cell.kl.json" ] && continue
    echo "== $cell" >&2
    # shellcheck disable=SC2086
    "$slmkit" quantize "$model" ${s#*:} ${m#*:} --threads "$threads" --out "$work/$cell" --force -q \
      --json "$work/$cell.quant.json" >&2
    "$slmkit" eval "$work/$cell" --threads "$threads" --json "$work/$cell.eval.json" >/dev/null
    "$slmkit" eval "$work/$cell" --threads "$threads" --max-windows 64 --kl-base "$model" \
      --json "$work/$cell.kl.json" >/dev/null
    rm -rf "${work:?}/$cell"
  done
done
python3 - "$work" <<'PY'
import json, sys, os
work = sys.argv[1]
fp = json.load(open(os.path.join(work, "fp32.eval.json")))
print(f"fp32 perplexity {fp['perplexity']:.3f}\n")
print("| setting | method | PPL | KL (64 windows) | top-1 agreement | bits/weight | quantize time |")
print("|---|---|---|---|---|---|---|")
for s in ["4b-g32", "3b-g32", "4b-row"]:
    for m in ["rtn", "gptq", "gptq-ao", "awq"]:
        c = f"{s}-{m}"
        q = json.load(open(os.path.join(work, c + ".quant.json")))
        e = json.load(open(os.path.join(work, c + ".eval.json")))
        k = json.load(open(os.path.join(work, c + ".kl.json")))["kl"]
        print(f"| {s} | {m} | {e['perplexity']:.3f} | {k['mean']:.4f} | {100*k['top1_agreement']:.2f}% "
              f"| {q['bits_per_weight']:.2f} | {q['seconds']:.1f} s |")
PY
