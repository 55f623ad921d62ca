#!/usr/bin/env bash
# PyTorch interop: `sib train` writes a checkpoint, `sib loss` computes logits from it, and PyTorch
# (where python3-torch is installed; skipped otherwise, exit 77) loads the same checkpoint into
# nn.Sequential with a strict state dict and computes the same logits.
set -euo pipefail
sib=$1
here=$(cd "$(dirname "$0")" && pwd)
python=/usr/bin/python3
[ -x "$python" ] || python=python3
if ! "$python" -c "import numpy, torch" 2>/dev/null; then
    echo "PyTorch (python3-torch) not installed: skipped"
    exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
spec="Conv2d(3,4,3,padding=1); ReLU; MaxPool2d(2); Conv2d(4,6,3,stride=2); Tanh; Flatten; Linear(294,6)"
"$sib" train --model "$spec" --benchmark shapes --train-limit 256 --test-limit 64 --epochs 1 --batch 32 \
    --objective sib --threads 1 --seed 5 --out "$tmp/model.safetensors" >"$tmp/train.log" 2>&1 ||
    { cat "$tmp/train.log"; exit 1; }
"$python" -c "
import numpy as np
r = np.random.default_rng(0)
np.save('$tmp/x.npy', r.random((5, 3, 32, 32)))
np.save('$tmp/y.npy', r.integers(0, 6, 5))"
"$sib" loss --model "$spec" --weights "$tmp/model.safetensors" --input "$tmp/x.npy" --labels "$tmp/y.npy" \
    --out "$tmp/loss" --threads 1 >/dev/null
"$python" "$here/torch_loads_checkpoint.py" "$tmp/model.safetensors" "$tmp/x.npy" "$tmp/loss/logits.npy"
