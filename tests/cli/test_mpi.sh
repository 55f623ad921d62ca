#!/usr/bin/env bash
# `mpirun -np 2 sib train`: two processes with --batch 64 end with the weights of one process with
# --batch 64 --accumulate 2, bit for bit; a process killed mid-epoch stops the job within seconds
# naming it, leaves a readable checkpoint, and a resume ends where an uninterrupted run does; bad
# input (a batch that does not split, a resume with another process count, a process reading other
# data) is one line from sib and a non-zero exit, never a hang. Skipped (77) without mpirun or
# where sib was built without MPI.
set -uo pipefail
sib=$1
source "$(dirname "$0")/checks.sh"
command -v mpirun >/dev/null || { echo "skip: no mpirun (Debian: openmpi-bin)"; exit 77; }
mpi=(mpirun --allow-run-as-root --oversubscribe --mca btl self,vader,tcp --mca btl_tcp_if_include lo -np 2)
export OMPI_MCA_rmaps_base_oversubscribe=1
"${mpi[@]}" "$sib" train --help >"$tmp/help" 2>&1 || true
grep -q -- "--accumulate" "$tmp/help" || { echo "skip: this sib has no --accumulate"; exit 77; }
checksum() { "$sib" info --file "$1" | sed -n 's/.*"weights_fnv1a":"\([0-9a-f]*\)".*/\1/p'; }
# Guards every mpirun: a hang fails the test instead of stalling CI.
run() { timeout 300 "$@"; }

spec="Conv2d(3,4,3,padding=1); ReLU; MaxPool2d(2); Flatten; Linear(1024,6)"
base=(--model "$spec" --benchmark shapes --train-limit 256 --test-limit 64 --epochs 2 --objective sib)
common=("${base[@]}" --seed 5)

# Equivalence: 2 processes x batch 32 each == 1 process accumulating 2 micro-batches of 32.
run "${mpi[@]}" "$sib" train "${common[@]}" --batch 64 --out "$tmp/two.safetensors" >"$tmp/two.json" 2>"$tmp/two.err" ||
    { bad "mpirun -np 2 train: $(tail -3 "$tmp/two.err")"; }
run "$sib" train "${common[@]}" --batch 64 --accumulate 2 --out "$tmp/acc.safetensors" >"$tmp/acc.json" 2>"$tmp/acc.err" ||
    { bad "train --accumulate 2: $(tail -3 "$tmp/acc.err")"; }
two=$(checksum "$tmp/two.safetensors") acc=$(checksum "$tmp/acc.safetensors")
if [ -n "$two" ] && [ "$two" = "$acc" ]; then pass "2 processes == --accumulate 2, bit for bit ($two)"; else bad "2 processes $two != accumulate 2 $acc"; fi
[ "$(grep -c '"processes":2' "$tmp/two.json")" = 1 ] && pass "one JSON line, from process 0" || bad "JSON lines: $(cat "$tmp/two.json")"
[ "$(grep -c '^epoch 2/2:' "$tmp/two.err")" = 1 ] && pass "one progress summary per epoch" || bad "progress: $(cat "$tmp/two.err")"
# Same test accuracy too (evaluation sharded and gathered).
a2=$(sed -n 's/.*"test_accuracy":\([0-9.]*\).*/\1/p' "$tmp/two.json") a1=$(sed -n 's/.*"test_accuracy":\([0-9.]*\).*/\1/p' "$tmp/acc.json")
[ -n "$a2" ] && [ "$a2" = "$a1" ] && pass "sharded test accuracy $a2" || bad "test accuracy $a2 vs $a1"

# Bad input: one line from sib (mpirun adds its own notice), a non-zero exit, no hang.
mpi_error() {  # NAME PATTERN ARGS...
    local name=$1 pattern=$2; shift 2
    run "${mpi[@]}" "$sib" train "$@" >"$tmp/out" 2>"$tmp/err"
    local rc=$?
    if [ $rc -eq 0 ] || [ $rc -eq 124 ]; then bad "$name: exit $rc"; return; fi
    if [ "$(grep -c '^sib train: error' "$tmp/err")" -ne 1 ]; then bad "$name: $(grep -c '^sib train: error' "$tmp/err") error lines"; cat "$tmp/err"; return; fi
    grep -q -- "$pattern" "$tmp/err" && pass "$name" || bad "$name: $(grep '^sib' "$tmp/err")"
}
mpi_error "batch that does not split" "the batch of 63 does not split into 2 processes x 1 micro-batch" \
    "${common[@]}" --batch 63 --out "$tmp/bad.safetensors"
mpi_error "resume with another process count" "was written by a run of 1 process(es), this run has 2" \
    "${common[@]}" --batch 64 --accumulate 2 --resume "$tmp/acc.safetensors" --out "$tmp/acc2.safetensors"
# Process 1 reads another data set (MPMD launch: one command line per process).
run mpirun --allow-run-as-root --oversubscribe --mca btl self,vader,tcp --mca btl_tcp_if_include lo \
    -np 1 "$sib" train "${common[@]}" --batch 64 --out "$tmp/d.safetensors" : \
    -np 1 "$sib" train "${base[@]}" --seed 6 --batch 64 --out "$tmp/d.safetensors" >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && [ "$(grep -c '^sib train: error' "$tmp/err")" -eq 1 ] &&
    grep -q "the training data of process 1 differ from process 0's" "$tmp/err"; then
    pass "a process reading other data"
else
    bad "a process reading other data: exit $rc: $(grep '^sib' "$tmp/err")"
fi

# A process killed mid-epoch: the job stops within seconds, naming it; the checkpoint loads; the run
# resumed (with 2 processes) ends with the uninterrupted run's weights.
long=(--model "$spec" --benchmark shapes --train-limit 1024 --test-limit 64 --epochs 6 --objective sib --seed 5
      --batch 32 --checkpoint-every 2 --threads 1)
run "${mpi[@]}" "$sib" train "${long[@]}" --out "$tmp/full.safetensors" >/dev/null 2>&1
want=$(checksum "$tmp/full.safetensors")
"${mpi[@]}" "$sib" train "${long[@]}" --out "$tmp/part.safetensors" >/dev/null 2>"$tmp/kill.err" &
job=$!
for _ in $(seq 1 400); do [ -f "$tmp/part.safetensors" ] && break; sleep 0.05; done
victim=$(pgrep -f "^$sib train .*part.safetensors" | tail -1)
if [ -z "$victim" ]; then
    bad "kill: no process to kill (the run ended first?)"
else
    killed_at=$(date +%s.%N)
    kill -9 "$victim"
    wait "$job"
    rc=$?
    took=$(awk -v a="$killed_at" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    if [ $rc -ne 0 ] && awk -v t="$took" 'BEGIN { exit !(t < 10) }' && grep -qi "rank\|process" "$tmp/kill.err"; then
        pass "one process killed: the job stopped in $took s ($(grep -im1 'signal\|killed' "$tmp/kill.err" | head -c 120))"
    else
        bad "one process killed: exit $rc after $took s: $(head -5 "$tmp/kill.err")"
    fi
    if "$sib" info --file "$tmp/part.safetensors" >/dev/null 2>&1; then pass "checkpoint readable after the kill"; else bad "checkpoint unreadable"; fi
    run "${mpi[@]}" "$sib" train "${long[@]}" --resume "$tmp/part.safetensors" --out "$tmp/part.safetensors" >/dev/null 2>"$tmp/resume.err"
    got=$(checksum "$tmp/part.safetensors")
    [ -n "$want" ] && [ "$got" = "$want" ] && pass "resumed to the uninterrupted weights ($got)" || bad "resumed $got != $want: $(tail -2 "$tmp/resume.err")"
fi

[ $failures -eq 0 ] && echo "all MPI checks passed" || echo "$failures MPI checks failed"
exit $failures
