#!/usr/bin/env bash
# The main job: pre-check the seed report's headline cases on the default device.
set -euo pipefail
BUILD=${1:-build}
BIN="$BUILD/oomless"
run() { echo "\$ oomless $*"; "$BIN" "$@" || echo "(exit $?)"; echo; }
run devices
run query add --shape 1,2176,3840,3 --shape 1,2176,3840,3 --dtype bf16 --layout tile --memory l1
run query add --shape 1,256,3,25281 --shape 1,256,3,25281 --dtype bf16 --layout tile --memory l1
run query softmax --shape 1,12,8160,8160 --arg dim=-1 --dtype bf16 --layout tile --memory l1
run query softmax --shape 1,12,8160,8160 --arg dim=-1 --dtype bf16 --layout tile --memory dram
run query relu --shape 1,2176,1920,96 --dtype bf16 --layout tile --memory dram
