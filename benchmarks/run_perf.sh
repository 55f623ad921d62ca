#!/usr/bin/env bash
# Builds the speed benchmark in build-bench/, times sib and LibTorch side by side (2 threads, one
# process per case so that each peak RSS belongs to that case alone), profiles sib's S-IB step per
# phase (sib_phase_profile) and per primitive (perf, when the machine allows it), and writes
# reports/perf.md. Hand-written notes at the end of reports/perf.md are kept.
#
#   benchmarks/run_perf.sh            (environment: SIB_BENCH_THREADS=2, SIB_BENCH_MIN_TIME=3,
#                                      SIB_BENCH_REPETITIONS=3, SIB_BENCH_BUILD=build-bench,
#                                      SIB_BENCH_WAIT_LOAD=1.5: wait up to 15 min for a lower load)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${SIB_BENCH_BUILD:-$root/build-bench}
threads=${SIB_BENCH_THREADS:-2}
min_time=${SIB_BENCH_MIN_TIME:-3}
repetitions=${SIB_BENCH_REPETITIONS:-3}
wait_load=${SIB_BENCH_WAIT_LOAD:-1.5}
results=$build/perf-results
python=/usr/bin/python3
[[ -x $python ]] || python=python3
# shellcheck source=blas_env.sh
source "$root/benchmarks/blas_env.sh"

# One build job: the machine's cores are shared with other people's work.
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSIB_BUILD_BENCHMARKS=ON \
  -DSIB_BUILD_TESTS=OFF -DSIB_BUILD_TOOLS=OFF -DSIB_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$build" --target sib_bench sib_phase_profile
bench=$build/bin/sib_bench
profile=$build/bin/sib_phase_profile

rm -rf "$results"
mkdir -p "$results"

# Timings are only worth reading on a quiet machine: wait (up to $1 x 30 s) for the 1-minute load
# to drop below $wait_load; go on regardless after that (the report states the load).
wait_quiet() {
  for _ in $(seq 1 "$1"); do
    load=$(cut -d' ' -f1 /proc/loadavg)
    if awk -v l="$load" -v m="$wait_load" 'BEGIN { exit !(l < m) }'; then return; fi
    echo "load $load >= $wait_load, waiting 30 s" >&2
    sleep 30
  done
}
wait_quiet 30

{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
  echo "cores: $(nproc) CPUs available ($(lscpu | sed -n 's/^Thread(s) per core: *//p') thread(s) per core, $(lscpu | sed -n 's/^Core(s) per socket: *//p') core(s) per socket, $(lscpu | sed -n 's/^Socket(s): *//p') socket(s))"
  echo "load_before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "omp_wait_policy: ${OMP_WAIT_POLICY:-unset}"
  echo "blas_env: $blas_env_text"
  echo "source: commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?'), $(git -C "$root" status --porcelain -- include 2>/dev/null | wc -l) uncommitted file(s) under include/"
  echo "benchmark: $(dpkg-query -W -f='${Version}' libbenchmark-dev 2>/dev/null || echo '?')"
  echo "min_time: $min_time"
  echo "repetitions: $repetitions"
} >"$results/machine.txt"

cases=(sgemm/eigen/2048)
for model in small three_conv; do
  for objective in sib_step ce_step; do
    cases+=("sib/$model/$objective" "torch/$model/$objective")
  done
done
for c in "${cases[@]}"; do
  side=${c%%/*}
  name=${c//\//_}
  wait_quiet 6
  echo "$c: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$results/loads.txt"
  echo "== $c (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  "$bench" --threads "$threads" --side "$side" --benchmark_filter="^$c/" \
    --benchmark_min_time="$min_time" --benchmark_repetitions="$repetitions" \
    --benchmark_out="$results/$name.json" --benchmark_out_format=json 2>"$results/$name.err" ||
    { cat "$results/$name.err" >&2; exit 1; }
  # sib_bench checks only the models of the cases it is asked for: keep each check line once, the
  # first process's that checked it.
  grep -h '^check ' "$results/check.txt" "$results/$name.err" 2>/dev/null |
    awk '{ key = $2 " " $3 " " $4 } !seen[key]++' >"$results/check.new" || true
  mv "$results/check.new" "$results/check.txt"
done
echo "load_after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$results/machine.txt"

for model in small three_conv; do
  "$profile" --model "$model" --threads "$threads" --steps 20 --warmup 3 | tee "$results/phases_$model.txt" >&2
done
# Per primitive: perf's cpu-clock sampling of the same program (perf_event_paranoid <= 2 suffices
# for one's own process); skipped where perf cannot record.
# The 1-thread run shows the work without the time one thread waits for the other. Sampling is
# on for the timed steps only (perf's control fifo, see benchmarks/phase_profile.cpp).
if command -v perf >/dev/null 2>&1; then
  ctl=$results/perf.ctl
  ack=$results/perf.ack
  mkfifo "$ctl" "$ack"
  for run in "small $threads 30" "three_conv $threads 10" "three_conv 1 10"; do
    read -r model n steps <<<"$run"
    data=$results/perf_${model}_${n}t
    if SIB_PERF_CTL=$ctl SIB_PERF_ACK=$ack perf record -q -F 999 -D -1 --control "fifo:$ctl,$ack" \
      -o "$data.data" -- "$profile" --model "$model" --threads "$n" --steps "$steps" --warmup 2 >/dev/null 2>&1; then
      perf report -i "$data.data" --no-children --sort dso,symbol --stdio \
        --percent-limit 0.05 2>/dev/null >"$data.txt" || true
    else
      echo "perf record failed; no per-primitive profile" >&2
    fi
  done
fi

"$python" "$root/benchmarks/perf_report.py" "$results" "$root/reports/perf.md"
