#!/usr/bin/env bash
# OpenBLAS or BLIS? Times the matrix products of one training step of each GPT shape through
# both Debian BLAS libraries (OpenMP builds, two threads) and prints the per-step sums:
#   tools/bench-blas.sh [a|b|c]...        (default: a b c; REPS=10 calls per product, best kept)
# BLIS is not one of Strata's dependencies: when libblis4-openmp is not installed, its package
# is downloaded (apt-get download, no root needed) and unpacked into a temporary folder, so
# that installing it cannot move the system's libblas.so.3 alternative under PyTorch.
# Like the training benchmarks, OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are unset here (the
# machine forces older kernels through them; see docs/performance.md).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
reps=${REPS:-10}
openblas=/usr/lib/x86_64-linux-gnu/openblas-openmp
blis=/usr/lib/x86_64-linux-gnu/blis-openmp
for shape in ${*:-a b c}; do
  case $shape in a|b|c) ;; *) echo "bench-blas: unknown shape '$shape' (a, b or c)" >&2; exit 2 ;; esac
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[ -f "$openblas/libopenblas.so.0" ] || {
  echo "bench-blas: OpenBLAS's OpenMP build missing: apt-get install libopenblas0-openmp" >&2
  exit 1
}
if [ ! -f "$blis/libblis.so.4" ]; then
  echo "bench-blas: fetching libblis4-openmp into $work (not installed)" >&2
  (cd "$work" && apt-get download -q libblis4-openmp >/dev/null &&
    dpkg -x libblis4-openmp_*.deb root) || {
    echo "bench-blas: could not fetch libblis4-openmp; install it" \
      "(apt-get install libblis4-openmp) or run where Debian's mirror is reachable" >&2
    exit 1
  }
  blis=$work/root/usr/lib/x86_64-linux-gnu/blis-openmp
fi
src=$here/tools/bench/blas_gemm_shapes.cpp
# Both builds compile against the system's cblas.h (the CBLAS interface is the same) and
# differ only in the library they link, each named by its path.
g++ -O2 -std=c++20 "$src" -o "$work/gemm-openblas" "$openblas/libopenblas.so.0" -fopenmp
g++ -O2 -std=c++20 "$src" -o "$work/gemm-blis" "$blis/libblis.so.4" -fopenmp
for shape in ${*:-a b c}; do
  case $shape in  # tokens a step (batch x sequence), width, vocabulary, layers
    a) args="2048 128 256 4" ;;
    b) args="2048 384 8192 6" ;;
    c) args="256 768 50257 12" ;;
  esac
  echo "== shape $shape: OpenBLAS $(basename "$openblas")"
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE LD_LIBRARY_PATH=$openblas OMP_NUM_THREADS=2 \
    "$work/gemm-openblas" $args "$reps"
  echo "== shape $shape: BLIS $(basename "$blis")"
  LD_LIBRARY_PATH=$blis OMP_NUM_THREADS=2 BLIS_NUM_THREADS=2 "$work/gemm-blis" $args "$reps"
done
