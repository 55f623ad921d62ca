#!/usr/bin/env bash
# Times the ResNet cases of sib_bench (torchvision's ResNet-18 at 32x3x64x64 and ResNet-50 at
# 8x3x224x224, CE and S-IB steps, sib and LibTorch) one case per process, so that each peak RSS
# belongs to that case alone, plus the SGEMM reference, and prints one table. The first ResNet-50
# process runs the full agreement check (float32 at the case's shape), the later ones --check light.
# SIB_BENCH_KEEP=1 keeps the results of an earlier, interrupted run and times only the missing cases.
# Expects build-bench/ built (benchmarks/run_perf.sh, or cmake --build build-bench --target sib_bench).
#
#   benchmarks/run_resnet.sh     (environment: SIB_BENCH_THREADS=2, SIB_BENCH_BUILD=build-bench,
#                                 SIB_BENCH_REPETITIONS=1; results in $SIB_BENCH_BUILD/resnet-results)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${SIB_BENCH_BUILD:-$root/build-bench}
threads=${SIB_BENCH_THREADS:-2}
repetitions=${SIB_BENCH_REPETITIONS:-1}
results=$build/resnet-results
bench=$build/bin/sib_bench
python=/usr/bin/python3
[[ -x $python ]] || python=python3
# One BLAS thread per torch thread, OpenBLAS's AVX-512 kernels where the CPU has them.
# shellcheck source=blas_env.sh
source "$root/benchmarks/blas_env.sh"

if [[ ${SIB_BENCH_KEEP:-0} != 1 ]]; then rm -rf "$results"; fi
mkdir -p "$results"
{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) CPUs"
  echo "load_before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "blas_env: $blas_env_text"
  echo "source: commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')"
} >>"$results/machine.txt"

cases=(sgemm/eigen/2048)
for model in resnet18_64x64_b32 resnet50_224x224_b8; do
  for objective in sib_step ce_step; do
    cases+=("sib/$model/$objective" "torch/$model/$objective")
  done
done
full_check_done=
grep -q '^check resnet50 8x3x224x224' "$results/check.txt" 2>/dev/null && full_check_done=1
for c in "${cases[@]}"; do
  side=${c%%/*}
  name=${c//\//_}
  [[ -s $results/$name.json ]] && continue
  check=light
  if [[ $c == *resnet50* && -z $full_check_done ]]; then check=full; full_check_done=1; fi
  echo "== $c (load $(cut -d' ' -f1-3 /proc/loadavg), --check $check)" | tee -a "$results/loads.txt" >&2
  "$bench" --threads "$threads" --side "$side" --check "$check" --benchmark_filter="^$c/" \
    --benchmark_repetitions="$repetitions" --benchmark_min_time=1 \
    --benchmark_out="$results/$name.json" --benchmark_out_format=json 2>"$results/$name.err" >/dev/null ||
    { cat "$results/$name.err" >&2; exit 1; }
  grep '^check ' "$results/$name.err" >>"$results/check.txt" || true
done
echo "load_after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$results/machine.txt"

"$python" - "$results" <<'EOF'
import json, pathlib, re, statistics, sys
d = pathlib.Path(sys.argv[1])
rows = {}
context = {}
for f in sorted(d.glob("*.json")):
    j = json.loads(f.read_text())
    context = j["context"]
    runs = [b for b in j["benchmarks"] if b.get("run_type") == "iteration"]
    name = re.sub(r"(/iterations:\d+)?/real_time$", "", runs[0]["run_name"])
    rows[name] = dict(ms=statistics.median(b["real_time"] for b in runs),
                      gflops=statistics.median(b["GFLOP_per_s"] for b in runs),
                      rss=max(b["peak_rss_MiB"] for b in runs), base=runs[0]["base_rss_MiB"],
                      step=runs[0]["step_GFLOP"], n=len(runs), iters=runs[0]["iterations"])
sgemm = rows.pop("sgemm/eigen/2048")["gflops"]
print((d / "machine.txt").read_text().strip())
for k in ("blas", "libtorch", "libtorch_config", "gemm", "sib_threads"):
    print(f"{k}: {context.get(k)}")
print(f"SGEMM 2048^3 through sib::cpu::gemm: {sgemm:.1f} GFLOP/s")
print("| model | objective | GFLOP/step | sib ms/step | torch ms/step | sib/torch | sib GFLOP/s (% SGEMM) | torch GFLOP/s (% SGEMM) | sib peak RSS MiB | torch peak RSS MiB |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for model in ("resnet18_64x64_b32", "resnet50_224x224_b8"):
    for obj, label in (("sib_step", "S-IB"), ("ce_step", "CE")):
        s, t = rows.get(f"sib/{model}/{obj}"), rows.get(f"torch/{model}/{obj}")
        if not s or not t:
            continue
        print(f"| {model} | {label} | {s['step']:.1f} | {s['ms']:.0f} | {t['ms']:.0f} | {s['ms'] / t['ms']:.2f} | "
              f"{s['gflops']:.1f} ({100 * s['gflops'] / sgemm:.0f}%) | {t['gflops']:.1f} ({100 * t['gflops'] / sgemm:.0f}%) | "
              f"{s['rss']:.0f} (+{s['rss'] - s['base']:.0f}) | {t['rss']:.0f} (+{t['rss'] - t['base']:.0f}) |")
EOF
