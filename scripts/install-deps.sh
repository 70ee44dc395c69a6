#!/usr/bin/env bash
# Installs every build, test and benchmark dependency from Debian's archive.
# Idempotent: does nothing when all packages are already present.
set -euo pipefail
PKGS=(
  build-essential cmake ccache clang-format
  # make fuzz: clang with libFuzzer and the sanitizer runtimes, OpenMP for clang
  clang libclang-rt-dev libomp-dev
  libhwy-dev libopenblas-dev nlohmann-json3-dev libcli11-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  pybind11-dev libdlpack-dev python3-dev python3-numpy python3-torch python3-pytest chromium
  # torchvision's classifiers (resnet, mobilenet_v2, ...) for the model tests (issue 13)
  python3-torchvision
  # sweep engines and results stores (issue 14); postgresql: initdb/pg_ctl for the tests
  libsqlite3-dev libpq-dev postgresql python3-distributed
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
