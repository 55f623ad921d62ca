#!/usr/bin/env bash
# The whole S-IB objective on torchvision's ResNet-18/34/50 (and ResNet-18 with the small-input
# stem), BatchNorm in training and in evaluation mode: PyTorch's float64 double backprop
# (torchvision_objective.py, with tests/fixtures/sib_reference.py) against sib's objective_step on
# sib::models::resnet18<double> ... loaded strictly from the same state dict
# (sib_torchvision_objective): logits, R, M, ce/fg/bg/total, every parameter gradient and the
# running statistics after each step to 1e-9; resnet18_small (mask temperature 10) in float32 to
# 2e-4. Both run at once, one thread each: sib compares a case while PyTorch computes the next.
# Skipped (exit 77) where no Python imports torchvision (python3-torchvision).
#   run_torchvision_objective.sh SIB_TORCHVISION_OBJECTIVE
set -euo pipefail
exe=$1
here=$(cd "$(dirname "$0")" && pwd)
python=
for candidate in /usr/bin/python3 python3 python; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c "import numpy, torch, torchvision" 2>/dev/null; then
        python=$candidate
        break
    fi
done
if [ -z "$python" ]; then
    echo "torchvision (python3-torchvision) not installed: skipped"
    exit 77
fi
# glibc keeps freed blocks for reuse instead of unmapping each large one (a ResNet's parameter-sized
# tensors): a quarter less CPU time on both sides, most of it page faults.
export MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=1073741824 MALLOC_TOP_PAD_=268435456
tmp=$(mktemp -d)
pid=
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT
# The export in the background: a failed one (at any point, imports included) leaves $tmp/FAILED, so
# that the comparison, which waits for each case's folder, stops at once; a failed comparison ends
# the export (cleanup's TERM reaches Python through the trap).
(
    "$python" -u "$here/torchvision_objective.py" export "$tmp" &
    child=$!
    trap 'kill "$child" 2>/dev/null' TERM
    wait "$child" || { status=$?; touch "$tmp/FAILED"; exit "$status"; }
) &
pid=$!
status=0
"$exe" "$tmp" || status=$?
if [ "$status" -ne 0 ]; then exit "$status"; fi
wait "$pid" || status=$?
pid=
if [ "$status" -ne 0 ]; then echo "torchvision_objective.py failed (exit $status)"; fi
exit "$status"
