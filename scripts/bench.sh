#!/usr/bin/env bash
# `make bench`: every op of the op table at its largest seed shape, bf16 and f32,
# against PyTorch, the machine's copy bandwidth and OpenBLAS sgemm, all measured in
# the same run; writes BENCHMARKS.md. Extra arguments go to bench/bench.py
# (e.g. `bash scripts/bench.sh build --ops relu,softmax --reps 3`; see --help).
set -euo pipefail
BUILD=${1:-build}
shift || true
PYTHON=${PYTHON:-/usr/bin/python3}
# The f32 cat/concat/stack outputs are 6.4 GB, over the host pool's default warm
# size (RAM/6, at most 4 GiB): let the benchmark process keep 8 GiB warm so that
# repeated calls measure the kernels, not first-touch page faults (BENCHMARKS.md
# states the value used).
export OOMLESS_HOST_POOL=${OOMLESS_HOST_POOL:-$((8 << 30))}
exec "$PYTHON" bench/bench.py --build "$BUILD" "$@"
