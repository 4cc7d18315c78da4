#!/usr/bin/env bash
# Runs slmkit's libFuzzer targets (fuzz/fuzz_*.cpp), each for a given time.
#
#   scripts/fuzz.sh [-b BUILD_DIR] [-t SECONDS] [-j PARALLEL] [TARGET...]
#
#   -b  build directory of the fuzz project (default build-fuzz); configured with
#       clang-14 and built here if needed
#   -t  seconds per target (default 60)
#   -j  targets run at the same time (default 1)
#   TARGET  e.g. fuzz_gguf (default: every target)
#
# Seeds come from fuzz/make_seeds.py (tiny valid files + advisory shapes); what
# a target finds new is kept in BUILD_DIR/corpus/TARGET between runs, crashing
# inputs go to BUILD_DIR/findings/TARGET/. One summary line per target (executions,
# corpus size, result); the exit status is non-zero if any target found something.
# Set NICE=19 to run long campaigns on idle CPU only.
set -euo pipefail
cd "$(dirname "$0")/.."
build=build-fuzz
seconds=60
parallel=1
while getopts "b:t:j:" opt; do
  case $opt in
    b) build=$OPTARG ;;
    t) seconds=$OPTARG ;;
    j) parallel=$OPTARG ;;
    *) sed -n '2,16p' "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
export SLMKIT_DATA="${SLMKIT_DATA:-$(cd .. && pwd)/shared/data}"

if [ ! -f "$build/build.ninja" ]; then
  cmake -S fuzz -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_C_COMPILER=clang-14 >/dev/null
fi
cmake --build "$build" -j "${BUILD_JOBS:-$(nproc)}" >/dev/null
python3 fuzz/make_seeds.py "$build/seeds" "$SLMKIT_DATA" >/dev/null

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for src in fuzz/fuzz_*.cpp; do targets+=("$(basename "$src" .cpp)"); done
fi

# ASan: a leak is a finding too; UBSan reports already abort (-fno-sanitize-recover).
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"

run_one() {
  local t=$1 seeds="$build/seeds/${1#fuzz_}"
  local corpus="$build/corpus/$t" findings="$build/findings/$t" log="$build/logs/$t.log"
  mkdir -p "$corpus" "$findings" "$build/logs"
  [ -d "$seeds" ] || seeds=""
  local status=0
  nice -n "${NICE:-0}" "$build/$t" "$corpus" $seeds -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=2048 -malloc_limit_mb=1024 -dict="$build/seeds/slmkit.dict" -print_final_stats=1 \
    -artifact_prefix="$findings/" >"$log" 2>&1 || status=$?
  local execs corpus_size
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  corpus_size=$(find "$corpus" -type f | wc -l)
  if [ $status -eq 0 ]; then
    printf '%-26s %6ss %12s execs %6s corpus  ok\n' "$t" "$seconds" "$execs" "$corpus_size"
  else
    printf '%-26s %6ss %12s execs %6s corpus  FINDING (exit %d, see %s)\n' "$t" "$seconds" "$execs" \
      "$corpus_size" "$status" "$log"
  fi
  return $status
}

failed=0
pids=()
for t in "${targets[@]}"; do
  run_one "$t" &
  pids+=($!)
  if [ ${#pids[@]} -ge "$parallel" ]; then
    wait "${pids[0]}" || failed=1
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do wait "$p" || failed=1; done
exit $failed
