#!/usr/bin/env bash
# `sib train --data DIR --image-size S` on photo folders: images of mixed sizes (PPM files written
# here, no tools needed) train, checkpoint and resume; a corrupt image fails naming it, or with
# --skip-bad-images is counted in the JSON; bad flags are one line.
set -uo pipefail
sib=$1
source "$(dirname "$0")/checks.sh"

# ppm PATH W H: random pixels.
ppm() {
    mkdir -p "$(dirname "$1")"
    { printf 'P6\n%d %d\n255\n' "$2" "$3"; head -c $(($2 * $3 * 3)) /dev/urandom; } >"$1"
}
data=$tmp/photos
for cls in ant bee; do
    for i in 1 2 3 4; do ppm "$data/train/$cls/$i.ppm" $((10 + 3 * i)) $((17 - i)); done
    for i in 1 2; do ppm "$data/test/$cls/$i.ppm" $((9 + i)) 21; done
done
spec="Conv2d(3,4,3,padding=1); ReLU; MaxPool2d(2); Flatten; Linear(64,2)"
# The weights' digest (checkpoints also record times).
checksum() { "$sib" info --file "$1" | sed -n 's/.*"weights_fnv1a":"\([0-9a-f]*\)".*/\1/p'; }
same_weights() { [ -n "$(checksum "$1")" ] && [ "$(checksum "$1")" = "$(checksum "$2")" ]; }
run() { "$sib" train --model "$spec" --data "$data" --image-size 8 --batch 2 --objective ce "$@"; }

if run --epochs 1 --out "$tmp/a.safetensors" >"$tmp/json" 2>"$tmp/err"; then
    line=$(tail -n 1 "$tmp/json")
    if echo "$line" | grep -q '"train_images":8' && echo "$line" | grep -q '"test_images":4' &&
        echo "$line" | grep -q '"bad_images":0'; then
        pass "train on photo folders of mixed sizes"
    else
        bad "train JSON: $line"
    fi
else
    bad "train on photo folders: $(tail -n 1 "$tmp/err")"
fi

# Two epochs at once, or one and a resumed one: the same checkpoint.
run --epochs 2 --out "$tmp/b.safetensors" >/dev/null 2>&1 &&
    run --epochs 1 --out "$tmp/c.safetensors" >/dev/null 2>&1 &&
    run --epochs 2 --resume "$tmp/c.safetensors" --out "$tmp/c.safetensors" >/dev/null 2>&1 &&
    same_weights "$tmp/b.safetensors" "$tmp/c.safetensors" && pass "resume on photo folders" || bad "resume on photo folders"

# The same run on 1 thread (the others use the default, 2): the same weights.
run --epochs 2 --threads 1 --out "$tmp/d.safetensors" >/dev/null 2>&1 &&
    same_weights "$tmp/b.safetensors" "$tmp/d.safetensors" && pass "1 and 2 threads" || bad "1 and 2 threads differ"

# sib explain and sib eval on the trained model and DIR/test, with masks in DIR/masks/test. stb reads
# images by their content, not their name: the masks are binary PGMs named .png, a square in the
# middle of each test image.
pgm_square() {  # pgm_square PATH W H
    mkdir -p "$(dirname "$1")"
    { printf 'P5\n%d %d\n255\n' "$2" "$3"
      for ((y = 0; y < $3; y++)); do for ((x = 0; x < $2; x++)); do
          if ((x >= $2 / 4 && x < 3 * $2 / 4 && y >= $3 / 4 && y < 3 * $3 / 4)); then printf '\377'; else printf '\0'; fi
      done; done; } >"$1"
}
explain() { "$sib" explain --model "$spec" --weights "$tmp/a.safetensors" --data "$data" --image-size 8 "$@"; }
if explain --method saliency,gradcam --count 3 --out "$tmp/ex" >"$tmp/json" 2>"$tmp/err" &&
    [ -s "$tmp/ex/saliency.npy" ] && [ -s "$tmp/ex/gradcam/2.png" ] && [ -s "$tmp/ex/sheet.png" ] &&
    head -c 80 "$tmp/ex/saliency.npy" | grep -q "'shape': (3, 8, 8)"; then
    pass "explain --data: 3 test photos at 8x8"
else
    bad "explain --data: $(tail -n 2 "$tmp/err")"
fi
expect_final_error "eval --data without masks" "test split has no masks to score against (DIR/masks/test" \
    "$sib" eval --model "$spec" --weights "$tmp/a.safetensors" --data "$data" --image-size 8
for cls in ant bee; do for i in 1 2; do pgm_square "$data/masks/test/$cls/$i.png" $((9 + i)) 21; done; done
if "$sib" eval --model "$spec" --weights "$tmp/a.safetensors" --data "$data" --image-size 8 --methods all \
    --resamples 50 --steps 4 --samples 3 >"$tmp/json" 2>"$tmp/err" &&
    tail -n 1 "$tmp/json" | grep -q '"images":4' && tail -n 1 "$tmp/json" | grep -q '"gradcam_pp"' &&
    ! tail -n 1 "$tmp/json" | grep -q 'null\|"nan_count":[1-9]'; then
    pass "eval --data: the six core methods on 4 test photos with their masks"
else
    bad "eval --data: $(tail -n 1 "$tmp/json") $(tail -n 2 "$tmp/err")"
fi
expect_final_error "--image-size without --data" "--image-size applies to photo folders: give --data DIR" \
    "$sib" explain --model "$spec" --weights "$tmp/a.safetensors" --benchmark shapes --image-size 8 --method saliency \
    --out "$tmp/x"
rm -r "$data/masks"

# A corrupt image (a good header over too few pixels): named, or skipped and counted.
printf 'P6\n40 40\n255\nxyz' >"$data/train/bee/9.ppm"
expect_final_error "corrupt image" "photo folder: .*train/bee/9.ppm" run --epochs 1 --out "$tmp/e.safetensors"
if run --epochs 1 --skip-bad-images --out "$tmp/e.safetensors" >"$tmp/json" 2>"$tmp/err" &&
    tail -n 1 "$tmp/json" | grep -q '"bad_images":1'; then
    pass "--skip-bad-images counts the corrupt image"
else
    bad "--skip-bad-images: $(tail -n 1 "$tmp/json") $(tail -n 1 "$tmp/err")"
fi
rm "$data/train/bee/9.ppm"

mkdir -p "$data/train/wasp"
expect_final_error "empty class folder" "class folder .*train/wasp has no images" run --epochs 1 --out "$tmp/f.safetensors"
rmdir "$data/train/wasp"
expect_final_error "--mean of two values" "mean needs 1 or 3 values, got 2" run --mean 0.5,0.5 --out "$tmp/f.safetensors"
expect_final_error "--std not numbers" "--std must be numbers separated by commas" run --std a,b,c --out "$tmp/f.safetensors"
expect_final_error "--mean without --image-size" "--mean applies to photo folders" \
    "$sib" train --model "$spec" --data "$data" --mean 0.5 --out "$tmp/f.safetensors"
expect_final_error "--flip with photo folders" "do not apply to photo folders" run --flip --out "$tmp/f.safetensors"
expect_final_error "--image-size too small for the model" \
    "--image-size 1 is too small for this model: .*MaxPool2d(2).*smaller than the kernel 2" \
    "$sib" train --model "$spec" --data "$data" --image-size 1 --batch 2 --objective ce --out "$tmp/f.safetensors"
mkdir -p "$tmp/nothing"
expect_final_error "no train folder" "has no train/ folder" \
    "$sib" train --model "$spec" --data "$tmp/nothing" --image-size 8 --out "$tmp/f.safetensors"

[ "$failures" -eq 0 ] || { echo "$failures failure(s)"; exit 1; }
echo "all photo-folder CLI checks passed"
