#!/usr/bin/env bash
# Runs every libFuzzer target of BUILD/fuzz for SECONDS each (make fuzz,
# make test-fuzz): its corpus starts from fuzz/corpus/NAME and the repo's real
# files, grows in BUILD/fuzz-corpus/NAME, and a crash, leak, timeout or
# out-of-memory lands in BUILD/fuzz-crashes/ (reproduce: BUILD/fuzz/NAME FILE).
# Prints executions and exec/s per target; exits 1 when any target failed.
set -uo pipefail
BUILD=${1:-build-fuzz}
SECONDS_EACH=${2:-60}
shift 2 2>/dev/null || true
TARGETS=("$@")
ROOT=$(cd "$(dirname "$0")/.." && pwd)
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(npy profile suite graph results call)
mkdir -p "$BUILD/fuzz-crashes"
status=0
printf '%-10s %12s %10s  %s\n' target executions exec/s result
for t in "${TARGETS[@]}"; do
  bin="$BUILD/fuzz/fuzz_$t"
  corpus="$BUILD/fuzz-corpus/$t"
  mkdir -p "$corpus"
  cp -n "$ROOT/fuzz/corpus/$t/"* "$corpus/" 2>/dev/null
  case $t in
    profile) cp -n "$ROOT"/devices/*.json "$corpus/" ;;
    graph) cp -n "$ROOT"/tests/data/graphs/*.json "$corpus/" ;;
  esac
  log="$BUILD/fuzz-$t.log"
  dict=()
  [ -f "$ROOT/fuzz/$t.dict" ] && dict=(-dict="$ROOT/fuzz/$t.dict")
  # 10 s per input at most (a hang), 2 GB of RSS or one malloc (allocating
  # beyond any budget); leaks are errors too.
  OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive ASAN_OPTIONS=detect_leaks=1 \
    "$bin" "$corpus" "${dict[@]}" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$BUILD/fuzz-crashes/$t-" >"$log" 2>&1
  rc=$?
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
  speed=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$')
  result=ok
  if [ $rc -ne 0 ]; then
    result="FAILED (exit $rc): $(grep -m1 -E 'ERROR|SUMMARY|deadly|Test unit written' "$log" | head -c 200); see $log"
    status=1
  fi
  printf '%-10s %12s %10s  %s\n' "$t" "${runs:-?}" "${speed:-?}" "$result"
done
exit $status
