#!/usr/bin/env bash
# Strata's training throughput next to PyTorch's on the same GPT shapes, in the same session:
#   tools/bench-vs-pytorch.sh [a|b|c]...        (default: a b c)
# Runs `strata bench train --shape S --json` and ../shared/bench/run_pytorch_baseline.sh with
# PEER_VARIANTS (default "asis tuned nommap"), REPEAT times each (default 3), alternating,
# and prints the medians, the ratios Strata / PyTorch per variant, and the range of the ratios
# of the back-to-back pairs (run i of each). First it prints what the machine charges for the
# first touch of fresh memory (build/bin/strata_first_touch_probe) and whether it has AVX-512,
# and with both the tuned and the nommap variants it prints the peer's tuned / nommap ratio:
# the first-touch cost is what separates those two variants, so it says how much a target
# stated against `tuned` asks on this machine (docs/performance.md).
#
# Like the peer's tuned variants, Strata's runs UNSET OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE
# (the machine forces AVX2 kernels through them; see ../shared/reference/machine.md) and use
# the OpenMP build of OpenBLAS. Tests and CI keep the machine's settings.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
strata=${STRATA:-$here/build/bin/strata}
peer=${PEER:-$here/../shared/bench/run_pytorch_baseline.sh}
repeat=${REPEAT:-3}
export PEER_VARIANTS=${PEER_VARIANTS:-asis tuned nommap}
ompdir=/usr/lib/x86_64-linux-gnu/openblas-openmp
[ -x "$strata" ] || { echo "bench: $strata not built (run tools/test.sh or cmake --build --preset default)" >&2; exit 1; }
[ -f "$peer" ] || { echo "bench: peer script $peer not found" >&2; exit 1; }
/usr/bin/python3 -c 'import torch' 2>/dev/null || { echo "bench: PyTorch missing: apt-get install python3-torch libopenblas0-openmp" >&2; exit 1; }
probe=$(dirname "$strata")/strata_first_touch_probe
avx512=$(grep -q -m1 avx512f /proc/cpuinfo && echo yes || echo no)
echo "machine: $(nproc) CPUs, AVX-512: $avx512; $([ -x "$probe" ] && "$probe" || echo "first touch: not measured ($probe not built)")"
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT
for shape in ${*:-a b c}; do
  for r in $(seq "$repeat"); do
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE LD_LIBRARY_PATH=$ompdir OMP_NUM_THREADS=2 \
      "$strata" --log-level warn bench train --shape "$shape" --json >> "$log/strata-$shape.jsonl"
    bash "$peer" "$shape" >> "$log/peer-$shape.jsonl"
  done
  /usr/bin/python3 - "$shape" "$log" <<'PY'
import json, statistics, sys
shape, log = sys.argv[1], sys.argv[2]
ours = [json.loads(l) for l in open(f"{log}/strata-{shape}.jsonl")]
peer = [json.loads(l) for l in open(f"{log}/peer-{shape}.jsonl")]
s = statistics.median(r["tokens_per_s"] for r in ours)
rss = statistics.median(r["peak_rss_bytes"] for r in ours) / 1e6
gf = statistics.median(r["gflops"] for r in ours)
print(f"shape {shape}: strata {s:,.0f} tokens/s, {gf:.1f} GFLOP/s, peak RSS {rss:.0f} MB  ({len(ours)} runs)")
by = {}
for r in peer:
    by.setdefault(r.get("label", "?").split("-", 1)[-1], []).append(r)
for variant, runs in sorted(by.items()):
    p = statistics.median(r["tokens_per_s_median"] for r in runs)
    prss = statistics.median(r.get("peak_rss_mb", 0) for r in runs)
    # Run i of Strata against run i of the peer (the same round of the loop above): the spread
    # shows how far one run's ratio can stray from the medians' on this machine.
    assert len(runs) == len(ours), f"{variant}: {len(runs)} peer runs against {len(ours)} of Strata's"
    pairs = [o["tokens_per_s"] / r["tokens_per_s_median"] for o, r in zip(ours, runs)]
    spread = f"  (pairs {min(pairs):.2f}-{max(pairs):.2f}x)" if len(pairs) > 1 else ""
    print(f"  pytorch {variant:7s} {p:10,.0f} tokens/s, peak RSS {prss:.0f} MB   ratio strata/pytorch = {s / p:.2f}x{spread}")
if "tuned" in by and "nommap" in by:
    t = statistics.median(r["tokens_per_s_median"] for r in by["tuned"])
    n = statistics.median(r["tokens_per_s_median"] for r in by["nommap"])
    print(f"  pytorch tuned / nommap = {t / n:.2f}: here 1.5x over tuned is {1.5 * t / n:.2f}x over nommap")
PY
done
