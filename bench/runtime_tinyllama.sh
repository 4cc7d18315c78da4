#!/usr/bin/env bash
# The runtime benchmark of docs/RESULTS.md (issue 4): TinyLlama-1.1B shapes with
# random weights, fp32 and 4-bit g32 (RTN, symmetric, GPTQ format), measured by
# `slmkit bench` (native runtime; LibTorch fp32 GEMM on the same shapes in the
# same process) and by llama.cpp's llama-bench on Q4_0 GGUFs of the same shapes,
# all at the same thread count, one after the other. Prints one table.
#   bench/runtime_tinyllama.sh WORK_DIR [THREADS] [REPS]
# Environment: SLMKIT_BIN (default build/slmkit), LLAMA_BIN (default
# /tmp/llama.cpp/build/bin; llama.cpp is built outside the repository),
# SLMKIT_DATA (synth copies its Llama-2 tokenizer into the synthetic model).
# Models and JSON stay in WORK_DIR; rerunning reuses the models.
set -euo pipefail
work="$1"; threads="${2:-2}"; reps="${3:-5}"
slmkit="${SLMKIT_BIN:-$(dirname "$0")/../build/slmkit}"
llama="${LLAMA_BIN:-/tmp/llama.cpp/build/bin}"
export SLMKIT_DATA="${SLMKIT_DATA:-$(cd "$(dirname "$0")/../.." && pwd)/shared/data}"
mkdir -p "$work"
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-active}"

[ -d "$work/tl" ] || "$slmkit" synth --shape tinyllama-1.1b --out "$work/tl"
[ -d "$work/tl-q4" ] || "$slmkit" quantize "$work/tl" --method rtn --bits 4 --group-size 32 --sym \
  --calib-samples 4 --calib-seq-len 128 --threads "$threads" -q --out "$work/tl-q4"  # RTN: calibration only feeds the error report
# The same with lm_head 8-bit g32 (bench/quantize_head: `slmkit quantize` leaves
# the head dense), about the bytes per token of llama.cpp's Q4_0 (Q6_K head).
[ -d "$work/tl-q4-h8" ] || { "$(dirname "$slmkit")/bench/quantize_head" "$work/tl-q4" "$work/tl-q4-h8" 8 32 &&
  cp "$work/tl-q4/tokenizer.model" "$work/tl-q4-h8/"; }
# Q4_0 as llama-quantize makes it (output.weight Q6_K), and the same with the
# head kept f32 — byte for byte the weights slmkit's 4-bit checkpoint holds
# (4-bit sym g32 is Q4_0's grid: the linears are copied code for code).
[ -f "$work/tl-q4_0.gguf" ] || "$slmkit" export "$work/tl-q4" --type q4_0 -q --out "$work/tl-q4_0.gguf"
[ -f "$work/tl-q4_0-f32head.gguf" ] || "$slmkit" export "$work/tl-q4" --type q4_0 --embed-type f32 -q \
  --out "$work/tl-q4_0-f32head.gguf"

uptime
"$slmkit" bench "$work/tl-q4" --threads "$threads" --reps "$reps" --json "$work/slmkit-q4.json"
"$slmkit" bench "$work/tl-q4-h8" --threads "$threads" --reps "$reps" --json "$work/slmkit-q4-h8.json"
"$llama/llama-bench" -m "$work/tl-q4_0.gguf" -m "$work/tl-q4_0-f32head.gguf" -t "$threads" -p 128,512 -n 128 \
  -r "$reps" -o json > "$work/llama-bench.json"
# fp32 reads 4.4 GB per token: fewer decoded tokens keep the run short.
"$slmkit" bench "$work/tl" --threads "$threads" --reps "$reps" --decode-tokens 32 --json "$work/slmkit-fp32.json"
uptime
ls -l "$work"/*.gguf

python3 - "$work" <<'PY'
import json, os, sys
work = sys.argv[1]
q4 = json.load(open(os.path.join(work, "slmkit-q4.json")))
fp = json.load(open(os.path.join(work, "slmkit-fp32.json")))
h8 = json.load(open(os.path.join(work, "slmkit-q4-h8.json")))
lb = json.load(open(os.path.join(work, "llama-bench.json")))
def pre(r, n): return next(p["tokens_per_second"] for p in r["prefill"] if p["tokens"] == n)
print("| engine / model | pp128 tok/s | pp512 tok/s | decode tok/s | MB read/token | % of triad | RSS decoding MB |")
print("|---|---|---|---|---|---|---|")
for name, r in [("slmkit runtime, 4-bit g32 (head f32)", q4), ("slmkit runtime, 4-bit g32 + head 8-bit g32", h8),
                ("slmkit runtime, fp32", fp)]:
    d = r["decode"]
    print(f"| {name} | {pre(r,128):.1f} | {pre(r,512):.1f} | {d['tokens_per_second']:.2f} | "
          f"{(d['weight_bytes_per_token']+d['kv_bytes_per_token'])/1e6:.0f} | {100*d['bandwidth_fraction']:.0f} | "
          f"{r['memory']['rss_during_decode_bytes']/1e6:.0f} |")
for m in sorted({e["model_filename"] for e in lb}):
    rows = [e for e in lb if e["model_filename"] == m]
    get = lambda p, g: next((e["avg_ts"] for e in rows if e["n_prompt"] == p and e["n_gen"] == g), float("nan"))
    print(f"| llama.cpp {os.path.basename(m)} ({rows[0]['model_size']/1e6:.0f} MB) | {get(128,0):.1f} | "
          f"{get(512,0):.1f} | {get(0,128):.2f} | | | |")
t = q4["torch_gemm"]
print(f"\nLibTorch fp32 GEMM on the 512-token prefill shapes: {t['gflops']:.1f} GFLOP/s; "
      f"runtime 4-bit prefill at {100*t['runtime_prefill_fraction']:.0f}% of it, "
      f"fp32 at {100*fp['torch_gemm']['runtime_prefill_fraction']:.0f}%")
print(f"triad {q4['decode']['triad_gbs']:.1f} GB/s at {q4['machine']['threads']} threads; "
      f"4-bit RSS / fp32 RSS while decoding = "
      f"{q4['memory']['rss_during_decode_bytes']/fp['memory']['rss_during_decode_bytes']:.2f}")
PY
