#!/usr/bin/env bash
# The README's main job: install, build, then train the small reference CNN with the S-IB objective
# on Fashion-MNIST (one epoch of the 60000 training images; the 10000 test images), write the
# checkpoint, explain a few test images, and print where everything is and what it scored.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
SIB_BUILD_TARGET=sib_cli bash scripts/build.sh
spec="Conv2d(1,16,3,padding=1); ReLU; MaxPool2d(2); Conv2d(16,32,3,padding=1); ReLU; MaxPool2d(2); Flatten; Linear(1568,10)"
out=build/main-job
mkdir -p "$out"
echo "main: training with S-IB on fmnist (60000 images, 1 epoch, batch 64, AdamW 1e-3, 2 threads)"
build/bin/sib train --model "$spec" --benchmark fmnist --objective sib --epochs 1 --batch 64 \
    --threads 2 --out "$out/sib-fmnist.safetensors" --log "$out/train.jsonl" | tee "$out/train.json"
echo "main: explaining 8 test images with the six core methods"
build/bin/sib explain --model "$spec" --weights "$out/sib-fmnist.safetensors" --benchmark fmnist --count 8 \
    --method all --out "$out/explain" | tail -n 1
echo "main: checkpoint $out/sib-fmnist.safetensors (loads in PyTorch's nn.Sequential of the same spec)"
echo "main: test accuracy $(sed -n 's/.*"test_accuracy":\([0-9.]*\).*/\1/p' "$out/train.json"); contact sheet $out/explain/sheet.png"
