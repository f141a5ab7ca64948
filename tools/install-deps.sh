#!/usr/bin/env bash
# Installs every Debian package Strata needs to build, test and run its quickstart.
# Idempotent: packages already present are not fetched again, and `apt-get update`
# only runs when something is missing. Needs root (or sudo) on Debian 12.
set -euo pipefail

packages=(
  # build
  cmake ninja-build g++ pkg-config
  # host runtime and SDK
  libboost-dev libboost-filesystem-dev nlohmann-json3-dev libspdlog-dev libcli11-dev
  # tests (python3-torch: the PyTorch oracle the CPU engine is checked against; also the
  # CPU peer of the benchmarks)
  libgtest-dev libgmock-dev json-schema-test-suite python3-torch
  # engine: BLAS, Unicode regex for the GPT-2 tokenizer, crypto for digests and signatures
  libopenblas-dev libopenblas0-openmp libpcre2-dev libsodium-dev
  # distributed runs: Open MPI (mpirun; the host loads the MPI backend module only under it)
  libopenmpi-dev openmpi-bin
  # the quickstart's corpus: English prose that every machine can install
  fortunes
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then sudo="sudo"; else
    echo "install-deps: missing packages (${missing[*]}) and not root; install them or rerun as root" >&2
    exit 1
  fi
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
