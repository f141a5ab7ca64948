#!/usr/bin/env bash
# The prepared GPU check, run on the GPU machine from the repository root with the bundle
# that tools/gpu-bundle.sh made (carried as .device-bundle):
#
#   bash tools/gpu-check.sh   (BATCH=16 STEPS=20 WARMUP=5 BUDGET_S=450 LARGE_BATCH=max
#                              PREVIOUS_PATHS=0 to override; LARGE_BATCH=0 skips that run)
#
# 1. prints the machine: nvidia-smi, driver, CUDA, glibc, Python, PyTorch, the bundle;
# 2. finds cuBLAS / cuBLASLt (/usr/local/cuda/lib64, else PyTorch's nvidia/*/lib folders)
#    for the bundle's binaries only (PyTorch keeps its own environment);
# 3. runs every gpu test binary of the bundle, reporting pass / fail / skip for each and
#    going on after a failure;
# 4. trains the quickstart's model on Shakespeare with `strata run` twice, on the GPU
#    (model.device = "cuda") and on the CPU, same seed and data, and compares the losses;
# 5. benchmarks GPT-2 124M training (sequence 1024, micro-batch BATCH) with
#    strata-gpu-bench, PyTorch eager and PyTorch torch.compile, at the same shape, and
#    prints tokens/s, MFU (against the bf16 GEMM rate strata-gpu-bench measures), peak
#    memory and the ratios to PyTorch eager and to torch.compile (strata twice: flash
#    attention, the default, and the materialized attention; then flash at the largest
#    micro-batch that fits); after the timed
#    strata-gpu-bench, a separate short `strata-gpu-bench --profile` prints the time of
#    every phase of a training step (ms/step, share, per category and section).
# Every stage runs under `timeout`, within an overall budget (BUDGET_S, default 450 s, well
# inside an 8-minute device call), and reports its elapsed time. With $OUT set, the whole
# log goes to $OUT/gpu-check.log and the JSON results to $OUT/gpu-check.json.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bundle=${BUNDLE:-$root/.device-bundle}
batch=${BATCH:-16}
steps=${STEPS:-20}
warmup=${WARMUP:-5}
budget=${BUDGET_S:-450}
outdir=${OUT:-/tmp/strata-gpu-check}
mkdir -p "$outdir"
log=$outdir/gpu-check.log
json=$outdir/gpu-check.json
: > "$json"
exec > >(tee "$log") 2>&1
tee_pid=$!
t_start=$(date +%s)
deadline=$((t_start + budget))
declare -A result

# stage NAME LIMIT_S CMD...: runs CMD under timeout (capped by the remaining budget), prints
# its elapsed time and exit code, and returns the exit code (124: timed out; 200: skipped).
stage() {
  local name=$1 limit=$2
  shift 2
  local now remaining
  now=$(date +%s)
  remaining=$((deadline - now - 5))
  [ "$remaining" -lt "$limit" ] && limit=$remaining
  if [ "$limit" -lt 15 ]; then
    echo "=== $name: SKIPPED, the overall budget of ${budget}s is spent"
    return 200
  fi
  echo "=== $name (timeout ${limit}s) ==="
  local t0 rc
  t0=$(date +%s.%N)
  timeout --kill-after=10 "$limit" "$@"
  rc=$?
  printf '=== %s: exit %d after %.1f s%s ===\n' "$name" "$rc" "$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN{print a-b}')" \
    "$([ "$rc" = 124 ] && echo ' (TIMED OUT)')"
  return "$rc"
}

echo "=== strata gpu-check, $(date -u +%Y-%m-%dT%H:%M:%SZ), batch $batch, $warmup warm-up + $steps timed steps ==="
[ -d "$bundle/bin" ] || { echo "gpu-check: no bundle at $bundle (run tools/gpu-bundle.sh and carry .device-bundle)"; exit 2; }
cat "$bundle/MANIFEST.txt" 2>/dev/null
echo "--- machine"
nvidia-smi || echo "nvidia-smi failed"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>/dev/null
uname -a
ldd --version 2>&1 | head -1
command -v nvcc >/dev/null && nvcc --version | tail -2
python3 --version
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())' 2>&1 | tail -1

# The bundle carries Debian 12's libstdc++ / libgcc_s, which need glibc 2.36; on an older
# glibc the machine's own (GCC 12 or newer) are used instead.
glibc=$(ldd --version 2>&1 | head -1 | grep -oE '[0-9]+\.[0-9]+$')
if [ -n "$glibc" ] && [ "$(printf '%s\n' 2.36 "$glibc" | sort -V | head -1)" != 2.36 ]; then
  echo "glibc $glibc < 2.36: removing the bundled libstdc++ and libgcc_s to use the system ones"
  rm -f "$bundle/lib/libstdc++.so.6" "$bundle/lib/libgcc_s.so.1"
fi

# find_lib_dir FILE: the first folder holding FILE among the CUDA toolkit's, else inside
# PyTorch's nvidia/* wheels (where the image keeps cuBLAS and NCCL when the toolkit lacks them).
find_lib_dir() {
  local file=$1 d
  for d in /usr/local/cuda/lib64 /usr/local/cuda/lib /usr/local/cuda/targets/x86_64-linux/lib /usr/lib/x86_64-linux-gnu; do
    if [ -e "$d/$file" ]; then echo "$d"; return; fi
  done
  FILE=$file python3 - <<'PY' 2>/dev/null
import glob, os
try:
    import nvidia
    roots = list(nvidia.__path__)
except Exception:
    roots = []
for r in roots:
    hits = sorted(glob.glob(os.path.join(r, "**", os.environ["FILE"] + "*"), recursive=True))
    if hits:
        print(os.path.dirname(hits[0]))
        break
PY
}
echo "--- cuBLAS and NCCL"
cublas_dir=$(find_lib_dir libcublasLt.so.13)
echo "cuBLAS 13 folder: ${cublas_dir:-NOT FOUND}"
nccl_dir=$(find_lib_dir libnccl.so.2)  # for nccl_comm_tests
echo "NCCL folder: ${nccl_dir:-NOT FOUND}"
gpu_ld=$bundle/lib${cublas_dir:+:$cublas_dir}${nccl_dir:+:$nccl_dir}
for bin in "$bundle"/bin/*; do
  nf=$(LD_LIBRARY_PATH=$gpu_ld ldd "$bin" 2>&1 | grep -E 'not found|version .* not found' || true)
  [ -n "$nf" ] && { echo "ldd $(basename "$bin"): unresolved:"; echo "$nf"; }
done
run_bundled() { LD_LIBRARY_PATH=$gpu_ld "$@"; }

echo "--- gpu tests"
for bin in "$bundle"/bin/cuda_*_tests "$bundle"/bin/nccl_*_tests; do
  [ -e "$bin" ] || continue
  name=$(basename "$bin")
  stage "test $name" 150 env LD_LIBRARY_PATH="$gpu_ld" "$bin" --gtest_color=no
  rc=$?
  case $rc in
    0) result[$name]=pass ;;
    77) result[$name]=skipped ;;
    124) result[$name]=timeout ;;
    200) result[$name]=not-run ;;
    *) result[$name]="fail(exit $rc)" ;;
  esac
done
tests_json=$(for k in "${!result[@]}"; do printf '"%s":"%s",' "$k" "${result[$k]}"; done)
echo "{\"tests\":{${tests_json%,}}}" >> "$json"

echo "--- strata run: the quickstart's model on Shakespeare, on the GPU and on the CPU (same seed and data)"
run_args=(run "$root/configs/quickstart.json" --plain --set "/data/text=[\"$bundle/data/shakespeare.txt\"]"
          --set /train/steps=60 --set /train/warmup_steps=10 --set /train/eval_every=0 --set /train/log_every=10
          --set /sample/tokens=64)
rm -rf "$outdir/run-cuda" "$outdir/run-cpu"
stage "strata run, device cuda" 120 env LD_LIBRARY_PATH="$gpu_ld" "$bundle/bin/strata" "${run_args[@]}" \
  --out "$outdir/run-cuda" --set /model/device=cuda
stage "strata run, device cpu" 150 env LD_LIBRARY_PATH="$gpu_ld" OMP_NUM_THREADS=8 "$bundle/bin/strata" \
  "${run_args[@]}" --out "$outdir/run-cpu"
python3 - "$outdir/run-cuda" "$outdir/run-cpu" "$json" <<'PY'
import json, os, sys
gpu, cpu, out = sys.argv[1:4]
def losses(d):
    p = os.path.join(d, "metrics.jsonl")
    if not os.path.exists(p):
        return {}
    return {m["step"]: m["loss"] for m in map(json.loads, open(p)) if "loss" in m}
def summary(d):
    p = os.path.join(d, "summary.json")
    return json.load(open(p)) if os.path.exists(p) else {}
g, c = losses(gpu), losses(cpu)
sg, sc = summary(gpu), summary(cpu)
print(f"{'step':>6} {'cuda loss':>12} {'cpu loss':>12} {'rel diff':>9}")
worst = 0.0
for step in sorted(set(g) & set(c)):
    d = abs(g[step] - c[step]) / abs(c[step])
    worst = max(worst, d)
    print(f"{step:>6} {g[step]:>12.6f} {c[step]:>12.6f} {d:>9.2e}")
row = {"strata_run": {"device": sg.get("device"), "status_cuda": sg.get("status"), "status_cpu": sc.get("status"),
       "steps_compared": len(set(g) & set(c)), "max_rel_loss_diff": worst,
       "val_bpb_cuda": sg.get("val_bits_per_byte"), "val_bpb_cpu": sc.get("val_bits_per_byte"),
       "tokens_per_s_cuda": sg.get("tokens_per_s"), "tokens_per_s_cpu": sc.get("tokens_per_s"),
       "peak_device_bytes": sg.get("peak_device_bytes")}}
print(json.dumps(row))
# bf16 compute against fp32: a few percent apart after 60 steps is expected, more is a bug.
print("strata run on cuda:", "OK" if row["strata_run"]["steps_compared"] >= 6 and worst < 0.05 else "CHECK")
open(out, "a").write(json.dumps(row) + "\n")
PY

echo "--- benchmarks: GPT-2 124M, sequence 1024, micro-batch $batch"
shape=(--vocab 50257 --ctx 1024 --layers 12 --heads 12 --dim 768 --batch "$batch" --device cuda --dtype bf16
       --steps "$steps" --warmup "$warmup")
bench_json() {  # NAME LIMIT CMD...: runs a benchmark stage and appends its JSON line
  local name=$1 limit=$2 tmp
  shift 2
  tmp=$(mktemp)
  stage "$name" "$limit" "$@" | tee "$tmp"
  grep -E '^\{' "$tmp" | tail -1 >> "$json"
  rm -f "$tmp"
}
bench_json "strata-gpu-bench" 150 env LD_LIBRARY_PATH="$gpu_ld" "$bundle/bin/strata-gpu-bench" \
  --batch "$batch" --steps "$steps" --warmup "$warmup"
# The same with the materialized attention (cuBLAS products, a softmax kernel, every
# layer's probabilities kept: the capture mode and the previous default): what the fused
# kernels buy, and a cross-check of the losses (same seed, same data). PREVIOUS_PATHS=1 adds
# the first path (no cuBLASLt epilogue fusion, whole S x S products).
bench_json "strata-gpu-bench, materialized attention" 150 env LD_LIBRARY_PATH="$gpu_ld" \
  "$bundle/bin/strata-gpu-bench" --batch "$batch" --steps "$steps" --warmup "$warmup" --attention materialized
# Flash attention keeps no [B,NH,S,S] probabilities, so a larger micro-batch fits: the
# same run at LARGE_BATCH (default max: the largest power of two from 16 that the device
# holds; a number; 0 skips it).
large=${LARGE_BATCH:-max}
if [ "$large" != 0 ]; then
  bench_json "strata-gpu-bench, micro-batch $large" 150 env LD_LIBRARY_PATH="$gpu_ld" \
    "$bundle/bin/strata-gpu-bench" --batch "$large" --steps "$steps" --warmup "$warmup"
fi
if [ "${PREVIOUS_PATHS:-0}" = 1 ]; then
  bench_json "strata-gpu-bench, first path" 150 env LD_LIBRARY_PATH="$gpu_ld" \
    "$bundle/bin/strata-gpu-bench" --batch "$batch" --steps "$steps" --warmup "$warmup" --attention materialized \
    --no-fused-epilogues --attention-row-block 0
fi
# The per-phase profile: a separate short run (2 warm-up + 3 profiled steps) so that its
# CUDA events cannot distort the timed run above; the table goes to the log.
stage "strata-gpu-bench --profile" 90 env LD_LIBRARY_PATH="$gpu_ld" "$bundle/bin/strata-gpu-bench" \
  --batch "$batch" --steps 3 --warmup 2 --matmul-size 2048 --profile
bench_json "pytorch eager" 150 env PYTHONUNBUFFERED=1 python3 "$bundle/pytorch_gpt_baseline.py" "${shape[@]}" --label eager
bench_json "pytorch torch.compile" 300 env PYTHONUNBUFFERED=1 python3 "$bundle/pytorch_gpt_baseline.py" "${shape[@]}" \
  --compile --label compile

# Per-kernel times (cuBLAS's kernels by name too) from Nsight Systems, when the machine has
# it: the timed steps of a short run (the bench brackets them with cudaProfilerStart/Stop).
# Last, so that it can only use what the budget has left.
echo "--- nsys kernel summary"
nsys_bin=$(command -v nsys 2>/dev/null || ls /usr/local/cuda/bin/nsys /opt/nvidia/nsight-systems/*/bin/nsys 2>/dev/null | head -1)
if [ -n "$nsys_bin" ]; then
  nsys_rep=/tmp/strata-gpu-check-nsys
  stage "nsys strata-gpu-bench" 150 "$nsys_bin" profile --trace=cuda --sample=none --cpuctxsw=none \
    --capture-range=cudaProfilerApi --capture-range-end=stop --force-overwrite=true -o "$nsys_rep" \
    env LD_LIBRARY_PATH="$gpu_ld" "$bundle/bin/strata-gpu-bench" --batch "$batch" --steps 3 --warmup 2 \
    --matmul-size 2048 \
    && stage "nsys stats" 60 "$nsys_bin" stats --report cuda_gpu_kern_sum --format table "$nsys_rep.nsys-rep" \
    | cut -c1-220 | head -80
else
  echo "nsys not found: no per-kernel summary"
fi

echo "--- summary"
python3 - "$json" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
tests = next((r["tests"] for r in rows if "tests" in r), {})
for k in sorted(tests):
    print(f"test {k}: {tests[k]}")
def strata_label(r):
    parts = []
    if r.get("attention") == "materialized":
        parts.append("materialized attn")
    if r.get("fused_epilogues") is False:
        parts.append("unfused")
    if r.get("attention") == "materialized" and r.get("attention_row_block") == 0:
        parts.append("whole attn")
    if r.get("batch_is_largest_that_fits"):
        parts.append(f"micro-batch {r.get('batch')}, the largest that fits")
    elif stratas and r.get("batch") != stratas[0].get("batch"):
        parts.append(f"micro-batch {r.get('batch')}")
    return "strata" + (f" ({', '.join(parts)})" if parts else "")
stratas = [r for r in rows if r.get("impl") == "strata"]
main_batch = stratas[0]["batch"] if stratas else None
ours = next((r for r in stratas if strata_label(r) == "strata" and r["batch"] == main_batch), None)
others = [r for r in stratas if r is not ours]
eager = next((r for r in rows if r.get("label") == "eager"), None)
comp = next((r for r in rows if r.get("label") == "compile"), None)
peak = ours["matmul_tflops"] * 1e12 if ours else None
def line(name, r, tps, ms, mem_gib, mfu):
    vs_e = f"{tps / eager['tokens_per_s_median']:.2f}x" if eager else "-"
    vs_c = f"{tps / comp['tokens_per_s_median']:.2f}x" if comp else "-"
    print(f"| {name:48s} | {tps:12,.0f} | {ms:8.1f} | {mfu:6.1%} | {mem_gib:8.2f} | {vs_e:>8s} | {vs_c:>10s} |")
print(f"bf16 GEMM 8192^3 (cuBLAS, measured): {ours['matmul_tflops']:.1f} TFLOP/s" if ours else "bf16 GEMM: not measured")
print("MFU = (6*(params-wpe) + 12*layers*seq*width) * tokens/s / measured bf16 GEMM FLOP/s")
print("| impl                                             |     tokens/s |  ms/step |    MFU | peak GiB | vs eager | vs compile |")
print("|---|---|---|---|---|---|---|")
if ours:
    line("strata", ours, ours["tokens_per_s"], ours["ms_per_step"], ours["peak_device_bytes"] / 2**30, ours["mfu"])
for r in others:
    line(strata_label(r), r, r["tokens_per_s"], r["ms_per_step"], r["peak_device_bytes"] / 2**30, r["mfu"])
for name, r in (("pytorch eager", eager), ("pytorch torch.compile", comp)):
    if r:
        tps = r["tokens_per_s_median"]
        mfu = r["flops_per_token"] * tps / peak if peak else float("nan")
        line(name, r, tps, r["step_s_median"] * 1e3, r["gpu_peak_mb"] / 1024, mfu)
for name, r in [("strata", ours)] + [(strata_label(r), r) for r in others] + [("pytorch eager", eager),
                ("pytorch torch.compile", comp)]:
    if r is None:
        print(f"{name}: no result (see its stage above)")
    else:
        extra = ""
        if "fused_gemm_calls" in r:
            extra = (f"; GEMMs with a fused cuBLASLt epilogue {r['fused_gemm_calls']},"
                     f" declined {r['declined_fused_gemm_calls']}; attention {r.get('attention', 'materialized')}"
                     f", row block {r.get('attention_row_block')}")
        print(f"{name}: loss first {r['loss_first']}, last {r['loss_last']}{extra}")
print("strata peak = bytes from its allocator (params, grads, AdamW state, activations, workspace);"
      " pytorch peak = torch.cuda.max_memory_allocated")
PY
echo "=== gpu-check done in $(( $(date +%s) - t_start )) s; log $log, results $json ==="
exec >&- 2>&-
wait "$tee_pid" 2>/dev/null  # the log is complete before $OUT is collected
