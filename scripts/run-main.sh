#!/usr/bin/env bash
# The main job: the seed suite on the default device, as TT-NN would run it
# (strict) and with the planner (auto), side by side; then one huge call run
# for real under tight budgets, verified against the slow reference.
set -euo pipefail
BUILD=${1:-build}
BIN="$BUILD/oomless"
OUT=${OOMLESS_RESULTS:-results}
"$BIN" sweep --suite suites/seed.json --device wormhole_b0 --policy both --mode query --out "$OUT"
echo
echo "\$ oomless run softmax --shape 1,12,8160,8160 --arg dim=-1 --dtype bf16 --memory l1 --l1-budget 1MB --dram-budget 64MB"
"$BIN" run softmax --shape 1,12,8160,8160 --arg dim=-1 --dtype bf16 --memory l1 --l1-budget 1MB --dram-budget 64MB
echo
echo "Reports: $OUT/summary.txt $OUT/report.md $OUT/report.html $OUT/results.json $OUT/results.csv"
