#!/usr/bin/env bash
# Fuzzes every reader of sib with libFuzzer (fuzz/README.md): configures a clang build with
# SIB_FUZZ=ON in build-fuzz/, builds the harnesses, and runs each for SECONDS (default 20) on a
# working copy of its committed corpus (build-fuzz/corpus/<reader>/, so fuzz/corpus/ is never
# written). One summary line per harness; exits non-zero if any harness found a crash, a sanitizer
# report, a leak, a timeout (-timeout=10) or an out-of-memory (-rss_limit_mb=2048), whose input is
# kept under build-fuzz/findings/<reader>/ (log: build-fuzz/logs/<reader>.log).
#
#   bash scripts/fuzz.sh [SECONDS]      environment: CXX (default clang++-14), JOBS (default nproc),
#                                       FUZZ_ONLY="npy spec" (a subset of the readers),
#                                       FUZZ_SEED=N (libFuzzer's -seed; default 0, a random one;
#                                       CI fixes it so that a run repeats)
set -euo pipefail
seconds=${1:-20}
[[ $seconds =~ ^[0-9]+$ && $seconds -gt 0 ]] || { echo "usage: $0 [SECONDS]" >&2; exit 2; }
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$root/build-fuzz
cxx=${CXX:-clang++-14}
command -v "$cxx" >/dev/null || { echo "fuzz.sh: $cxx not found (Debian: apt-get install clang-14 libclang-rt-14-dev)" >&2; exit 2; }

cmake -S "$root" -B "$build" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=Debug -DSIB_FUZZ=ON \
  -DSIB_BUILD_TESTS=OFF -DSIB_BUILD_TOOLS=OFF -DSIB_BUILD_EXAMPLES=OFF -DSIB_BUILD_BENCHMARKS=OFF \
  -DSIB_BUILD_CUDA_TESTS=OFF -DSIB_BUILD_THRUST_TESTS=OFF -DSIB_HEADER_CHECK=OFF -DSIB_INSTALL=OFF >/dev/null
cmake --build "$build" -j "${JOBS:-$(nproc)}" >/dev/null

# reader and the largest input worth generating for its format
declare -A max_len=([npy]=4096 [safetensors]=8192 [idx]=8192 [cifar]=16384 [image]=16384
                    [spec]=1024 [checkpoint]=8192 [checkpoint_json]=4096 [json]=4096)
readers=${FUZZ_ONLY:-npy safetensors idx cifar image spec checkpoint checkpoint_json json}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
mkdir -p "$build/logs"
failed=0
for reader in $readers; do
  exe=$build/bin/fuzz_$reader
  [[ -x $exe ]] || { echo "fuzz_$reader: not built"; failed=1; continue; }
  work=$build/corpus/$reader
  findings=$build/findings/$reader
  mkdir -p "$work" "$findings"
  cp -f "$root/fuzz/corpus/$reader"/* "$work"/
  [[ -d $root/fuzz/regressions/$reader ]] && cp -f "$root/fuzz/regressions/$reader"/* "$work"/ 2>/dev/null || true
  log=$build/logs/$reader.log
  rc=0
  "$exe" "$work" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len="${max_len[$reader]:-4096}" \
    -seed="${FUZZ_SEED:-0}" \
    -artifact_prefix="$findings/" -print_final_stats=1 >"$log" 2>&1 || rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  if [[ $rc -eq 0 ]]; then
    echo "fuzz_$reader: ok, ${runs:-?} runs in ${seconds} s, coverage ${cov:-?}, corpus $(ls "$work" | wc -l) inputs"
  else
    failed=1
    what=$(grep -m1 -oE 'ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|libFuzzer)[^(]*|runtime error: .*|finding: .*|what\(\): .*' "$log" || echo "exit $rc")
    echo "fuzz_$reader: FOUND ${what} -> $(ls -t "$findings" | head -1 | sed "s|^|$findings/|") (log $log)"
  fi
done
exit $failed
