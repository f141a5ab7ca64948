#!/usr/bin/env bash
# Builds the CUDA-enabled tree here (no GPU needed) and gathers what tools/gpu-check.sh runs
# on a GPU machine into the ignored folder .device-bundle/:
#   bin/   the gpu test binaries, strata-gpu-bench and strata itself (RPATH $ORIGIN/../lib,
#          cudart static)
#   lib/   the non-system shared libraries they need, resolved with ldd, and lib/strata/:
#          the plugins (where bin/strata looks for them), libstrata_engine_cuda.so, the
#          module `strata run` loads for model.device = "cuda" (RPATH $ORIGIN/..), and
#          libstrata_comm_nccl.so, the NCCL backend it loads for data parallelism
#   data/shakespeare.txt   the first 300 kB of ../shared/data/tinyshakespeare/input.txt, for
#          the `strata run` on the GPU (the quickstart's corpus is a Debian package)
#   pytorch_gpt_baseline.py   a copy of ../shared/bench's PyTorch baseline (../shared does
#          not travel to the GPU machine)
#   MANIFEST.txt   commit, date, sizes and SHA-256 of every file
# Not carried: libc, libm, libdl, libpthread, librt, ld-linux (the GPU machine's glibc),
# libcuda (its driver) and cuBLAS / cuBLASLt / cuDNN (too large; the GPU machine has them in
# /usr/local/cuda/lib64 or in PyTorch's nvidia/*/lib folders, which gpu-check.sh finds).
# The bundle must stay under 64 MiB together with the working tree that travels with it;
# the script fails loudly otherwise.
#
#   tools/gpu-bundle.sh            (JOBS=N for a parallel build; BUILD_DIR to override build-gpu)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build-gpu}
bundle=$root/.device-bundle
jobs=${JOBS:-1}
limit=$((64 * 1024 * 1024))
targets=(cuda_kernel_tests cuda_model_tests nccl_comm_tests strata-gpu-bench strata)
baseline=$root/../shared/bench/pytorch_gpt_baseline.py
text=$root/../shared/data/tinyshakespeare/input.txt
die() { echo "gpu-bundle: $*" >&2; exit 1; }

[ -x /usr/local/cuda/bin/nvcc ] || command -v nvcc >/dev/null || die "nvcc not found: the CUDA toolkit is needed to build the bundle"
[ -f "$baseline" ] || die "$baseline not found"
[ -f "$text" ] || die "$text not found"
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSTRATA_CUDA=ON
fi
cmake --build "$build" --target "${targets[@]}" strata_plugins strata_engine_cuda_module strata_comm_nccl -j "$jobs"

rm -rf "$bundle"
mkdir -p "$bundle/bin" "$bundle/lib/strata/plugins" "$bundle/data"
# Not stripped: the host finds a plugin's entry symbol through Boost.DLL's reading of the
# ELF symbol table, which strip removes.
cp "$build"/lib/strata/plugins/*.so "$bundle/lib/strata/plugins/"
cp "$build/lib/strata/libstrata_engine_cuda.so" "$build/lib/strata/libstrata_comm_nccl.so" "$bundle/lib/strata/"
# Found by dlsym: .dynsym stays. The NCCL backend (loaded by the engine for data
# parallelism on GPUs) needs only libnccl.so.2, which the GPU machine has.
strip --strip-unneeded "$bundle/lib/strata/libstrata_engine_cuda.so" "$bundle/lib/strata/libstrata_comm_nccl.so"
head -c 300000 "$text" > "$bundle/data/shakespeare.txt"
for t in "${targets[@]}"; do
  cp "$build/bin/$t" "$bundle/bin/$t"
  strip --strip-unneeded "$bundle/bin/$t"
done
cp "$baseline" "$bundle/pytorch_gpt_baseline.py"

# Shared libraries: everything ldd resolves, except the GPU machine's own.
skip='^(linux-vdso|ld-linux|libc\.so|libm\.so|libdl\.so|libpthread\.so|librt\.so|libcuda\.so|libcublas\.so|libcublasLt\.so|libcudnn|libnccl\.so)'
missing=0
for bin in "$bundle"/bin/* "$bundle/lib/strata/libstrata_engine_cuda.so"; do
  rp=$(readelf -d "$bin" | grep -E 'R(UN)?PATH' || true)
  case "$rp" in *'$ORIGIN/../lib'*|*'$ORIGIN/..:'*|*'$ORIGIN/..]'*) ;; *) die "$bin lacks RPATH \$ORIGIN/../lib or \$ORIGIN/.. ($rp)" ;; esac
  while read -r name arrow path _; do
    [ "$arrow" = "=>" ] || continue
    [[ $name =~ $skip ]] && continue
    if [ "$path" = "not" ]; then
      echo "gpu-bundle: $bin needs $name, which ldd cannot find" >&2
      missing=1
      continue
    fi
    [ -e "$bundle/lib/$name" ] || cp -L "$path" "$bundle/lib/$name"
  done < <(ldd "$bin")
done
[ "$missing" = 0 ] || die "unresolved libraries (see above)"

{
  echo "strata gpu bundle"
  echo "commit: $(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)$(git -C "$root" diff --quiet 2>/dev/null || echo ' (working tree modified)')"
  echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -n), $(ldd --version | head -1)"
  echo "nvcc: $(/usr/local/cuda/bin/nvcc --version | tail -1)"
  echo "files:"
  (cd "$bundle" && find . -type f ! -name MANIFEST.txt -printf '%P\n' | sort | while read -r f; do
     printf '  %-40s %10d  %s\n' "$f" "$(stat -c %s "$f")" "$(sha256sum "$f" | cut -c1-16)"
   done)
} > "$bundle/MANIFEST.txt"

size=$(du -sb "$bundle" | cut -f1)
tree=$(cd "$root" && git ls-files -z --cached --others --exclude-standard | xargs -0 stat -c %s 2>/dev/null | awk '{s+=$1} END {print s+0}')
printf 'gpu-bundle: %s: %.1f MiB (%d bytes) in %d files; with the working tree that travels (%.1f MiB): %.1f MiB of 64 MiB\n' \
  "$bundle" "$(echo "$size / 1048576" | bc -l)" "$size" "$(find "$bundle" -type f | wc -l)" \
  "$(echo "$tree / 1048576" | bc -l)" "$(echo "($size + $tree) / 1048576" | bc -l)"
cat "$bundle/MANIFEST.txt"
[ "$size" -le "$limit" ] || die "the bundle is $size bytes, over the 64 MiB limit"
[ $((size + tree)) -le "$limit" ] || die "bundle + working tree = $((size + tree)) bytes, over the 64 MiB a device call carries"
