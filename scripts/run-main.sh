#!/usr/bin/env bash
# The main job: the seed suite on the default device, as TT-NN would run it
# (strict) and with the planner (auto), side by side. Every case is
# pre-checked and planned; cases up to OOMLESS_RUN_MAX_BYTES of padded device
# memory also run with data in the device arenas and are verified against the
# slow reference (`all` runs every case, about 25 minutes on 2 cores). Then one
# huge call runs for real under tight budgets, verified. Then the model the
# seed's ops came from, YOLOv12x at 2176x3840 bf16, is traced (on the meta
# device: no memory), replayed as TT-NN would place it and planned whole, and
# run with data under that plan (random weights, sampled per-program checks).
set -euo pipefail
BUILD=${1:-build}
BIN="$BUILD/oomless"
OUT=${OOMLESS_RESULTS:-results}
RUN_MAX=${OOMLESS_RUN_MAX_BYTES:-512MB}
LIMIT=()
if [ "$RUN_MAX" != "all" ]; then LIMIT=(--run-max-bytes "$RUN_MAX"); fi
echo "\$ oomless sweep --suite suites/seed.json --policy both --mode run ${LIMIT[*]} --out $OUT"
"$BIN" sweep --suite suites/seed.json --device wormhole_b0 --policy both --mode run \
  "${LIMIT[@]}" --out "$OUT"
echo
echo "\$ oomless run softmax --shape 1,12,8160,8160 --arg dim=-1 --dtype bf16 --memory l1 --l1-budget 1MB --dram-budget 64MB"
"$BIN" run softmax --shape 1,12,8160,8160 --arg dim=-1 --dtype bf16 --memory l1 --l1-budget 1MB --dram-budget 64MB
echo
GRAPH="$OUT/model/yolov12x-2176x3840.graph.json"
mkdir -p "$OUT/model"
echo "\$ python3 -m oomless.export yolov12 --scale x --imgsz 2176,3840 --dtype bf16 --meta --channels-last -o $GRAPH"
PYTHONPATH="$BUILD/python" "${PYTHON:-/usr/bin/python3}" -m oomless.export yolov12 --scale x \
  --imgsz 2176,3840 --dtype bf16 --meta --channels-last -o "$GRAPH"
echo
echo "\$ oomless model plan $GRAPH --memory l1 --out $OUT/model"
"$BIN" model plan "$GRAPH" --device wormhole_b0 --memory l1 --out "$OUT/model"
echo
# The run with data: the decode's anchors (arange, full) have no oomless
# kernel, so the CLI runs the graph up to the three raw Detect levels.
RGRAPH="$OUT/model/yolov12x-2176x3840-nodecode.graph.json"
echo "\$ python3 -m oomless.export yolov12 --scale x --imgsz 2176,3840 --dtype bf16 --meta --channels-last --no-decode -o $RGRAPH"
PYTHONPATH="$BUILD/python" "${PYTHON:-/usr/bin/python3}" -m oomless.export yolov12 --scale x \
  --imgsz 2176,3840 --dtype bf16 --meta --channels-last --no-decode -o "$RGRAPH"
echo "\$ oomless model run $RGRAPH --verify sample --output $OUT/model/run"
"$BIN" model run "$RGRAPH" --device wormhole_b0 --verify sample --output "$OUT/model/run"
echo
echo "Reports: $OUT/summary.txt $OUT/report.md $OUT/report.html $OUT/results.json $OUT/results.csv"
echo "Store: $OUT/results.db (oomless report --db $OUT/results.db --list)"
echo "Model: $OUT/model/summary.txt $OUT/model/report.md $OUT/model/report.html $OUT/model/plan.json"
echo "Model run: $OUT/model/run/run.json (measured peaks beside the plan's, time per op)"
