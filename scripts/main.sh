#!/usr/bin/env bash
# The README's main job: install, build, then compute the S-IB objective and its gradients on a
# golden case with `sib loss` and compare with the independent reference.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
golden=../shared/golden/cnn_1x12x12
spec=$(sed -n 's/.*"spec": "\(.*\)",/\1/p' "$golden/meta.json")
out=build/main-job
echo "main: sib loss on $golden -> $out"
build/bin/sib loss --model "$spec" --weights "$golden" --input "$golden/x.npy" --labels "$golden/y.npy" \
    --window 5 --out "$out"
echo "main: reference total $(sed -n 's/.*"total": \([-0-9.e+]*\).*/\1/p' "$golden/meta.json")"
