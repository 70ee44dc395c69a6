#!/usr/bin/env bash
# `make bench`: every op of the op table at its largest seed shape, bf16 and f32,
# against PyTorch, the machine's copy bandwidth and OpenBLAS sgemm, all measured in
# the same run; writes BENCHMARKS.md. Extra arguments go to bench/bench.py
# (e.g. `bash scripts/bench.sh build --ops relu,softmax --reps 3`; see --help).
set -euo pipefail
BUILD=${1:-build}
shift || true
PYTHON=${PYTHON:-/usr/bin/python3}
exec "$PYTHON" bench/bench.py --build "$BUILD" "$@"
