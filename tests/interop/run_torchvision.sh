#!/usr/bin/env bash
# torchvision interop, both ways: torchvision's resnet18 state dict (written by hand as
# .safetensors) loads into sib::models::resnet18 with the strict loader and gives torchvision's
# logits; sib's checkpoint of it (after a training-mode forward and an AdamW step) loads into
# torchvision's resnet18 with load_state_dict(strict=True) after dropping optim.* and gives sib's.
# Skipped (exit 77) where no Python can import torchvision (python3-torchvision).
#   run_torchvision.sh SIB_TORCHVISION_INTEROP
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
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$python" "$here/torchvision_interop.py" export "$tmp"
"$exe" "$tmp"
"$python" "$here/torchvision_interop.py" check "$tmp"
