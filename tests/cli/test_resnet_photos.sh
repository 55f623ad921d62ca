#!/usr/bin/env bash
# examples/train_resnet_photos end to end on a tiny photo folder (PPM images of mixed sizes written
# here): torchvision's ResNet-18 trains with S-IB, its checkpoint carries torchvision's state-dict
# names, and Grad-CAM on layer4 writes its overlays.
set -uo pipefail
example=$1 sib=$2
source "$(dirname "$0")/checks.sh"

ppm() {  # ppm PATH W H: random pixels
    mkdir -p "$(dirname "$1")"
    { printf 'P6\n%d %d\n255\n' "$2" "$3"; head -c $(($2 * $3 * 3)) /dev/urandom; } >"$1"
}
for cls in ant bee; do
    for i in 1 2 3 4; do ppm "$tmp/photos/train/$cls/$i.ppm" $((30 + 5 * i)) $((47 - 3 * i)); done
    for i in 1 2; do ppm "$tmp/photos/test/$cls/$i.ppm" $((33 + i)) 41; done
done
if (cd "$tmp" && "$example" photos 32 1 4) >"$tmp/out" 2>"$tmp/err"; then
    pass "trained: $(grep 'test accuracy' "$tmp/out")"
else
    bad "train_resnet_photos: $(tail -2 "$tmp/err")"
fi
info=$("$sib" info --file "$tmp/resnet18.safetensors" 2>&1)
for key in conv1.weight bn1.num_batches_tracked layer1.0.conv1.weight layer2.0.downsample.0.weight \
    layer4.1.bn2.running_var fc.bias; do
    echo "$info" | grep -q "\"$key\"" && pass "checkpoint has $key" || bad "checkpoint lacks $key"
done
echo "$info" | grep -q '"model_tensors":122' && pass "122 model tensors, as torchvision's resnet18 state_dict" ||
    bad "model tensors: $(echo "$info" | grep -o '"model_tensors":[0-9]*')"
for i in 0 1 2 3; do
    [ -s "$tmp/gradcam_$i.png" ] && pass "gradcam_$i.png" || bad "gradcam_$i.png missing"
done
[ $failures -eq 0 ] && echo "all checks passed" || echo "$failures checks failed"
exit $failures
