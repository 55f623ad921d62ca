#!/usr/bin/env bash
# `sib explain` and `sib eval` end to end on a tiny model trained here: the files written and their
# sizes, the contact sheet's dimensions, the JSON last lines, and every bad input giving one line on
# stderr and a non-zero exit (never a crash: exit codes >= 128 fail the test). No Python: the .npy
# inputs are written by hand below.
set -uo pipefail
sib=$1
source "$(dirname "$0")/checks.sh"
# expect_size NAME FILE BYTES
expect_size() {
    local got; got=$(stat -c %s "$2" 2>/dev/null || echo missing)
    [ "$got" = "$3" ] && pass "$1 ($3 bytes)" || bad "$1: $2 has $got bytes, want $3"
}
# A .npy v1.0 header for dtype DESCR and shape text SHAPE (as numpy writes it: padded with spaces
# to a multiple of 64 bytes, ending in a newline). Data of an [B,H,W] float32 array follows it, so
# such a file has 128 + 4*B*H*W bytes.
npy_header() {
    local dict="{'descr': '$1', 'fortran_order': False, 'shape': $2, }"
    local pad=$(( (64 - (10 + ${#dict} + 1) % 64) % 64 ))
    local len=$(( ${#dict} + pad + 1 ))
    printf '\x93NUMPY\x01\x00'
    printf "\\x$(printf %02x $((len & 255)))\\x$(printf %02x $((len >> 8)))"
    printf '%s%*s\n' "$dict" "$pad" ''
}
# PNG width and height from the IHDR chunk.
png_size() { od -An -tu1 -j16 -N8 "$1" | awk '{ printf "%dx%d", $1*16777216+$2*65536+$3*256+$4, $5*16777216+$6*65536+$7*256+$8 }'; }
last_json() { tail -n 1 "$1"; }

spec="Conv2d(3,4,3,padding=1); ReLU; MaxPool2d(2); Flatten; Linear(1024,6)"
common=(--model "$spec" --weights "$tmp/m.safetensors" --threads 1)
if ! "$sib" train --model "$spec" --benchmark shapes --train-limit 128 --test-limit 32 --epochs 1 --objective ce \
    --threads 1 --out "$tmp/m.safetensors" >"$tmp/train.log" 2>&1; then
    cat "$tmp/train.log"; echo "FAIL: could not train the tiny model"; exit 1
fi

"$sib" explain --help >/dev/null && pass "explain --help" || bad "explain --help"
"$sib" eval --help >/dev/null && pass "eval --help" || bad "eval --help"
# The help lists the registries: 14 methods (the core six marked) and 5 benchmarks.
for cmd in explain eval; do
    help=$("$sib" $cmd --help)
    n=$(grep -cE '^  [a-z_]+( \*)? +(gradient|CAM|perturbation) ' <<<"$help")
    core=$(grep -cE '^  [a-z_]+ \* +(gradient|CAM|perturbation) ' <<<"$help")
    benches=$(grep -cE '^  (fmnist|fmnist-decoy|fmnist-clutter|fmnist-color|shapes) +[A-Za-z0-9]' <<<"$help")
    [ "$n" -eq 14 ] && [ "$core" -eq 6 ] && [ "$benches" -eq 5 ] && pass "$cmd --help lists methods and benchmarks" ||
        bad "$cmd --help: $n methods ($core core), $benches benchmarks"
done

# The six core methods on 5 shapes test images (32x32 RGB, 6 classes).
core="saliency input_x_gradient smoothgrad integrated_gradients gradcam gradcam_pp"
if "$sib" explain "${common[@]}" --benchmark shapes --count 5 --method all --out "$tmp/ex" >"$tmp/json" 2>"$tmp/err"; then
    for m in $core; do
        expect_size "explain $m.npy [5,32,32]" "$tmp/ex/$m.npy" $((128 + 4 * 5 * 32 * 32))
        ok=1
        for i in 0 1 2 3 4; do [ -s "$tmp/ex/$m/$i.png" ] || ok=0; done
        [ -e "$tmp/ex/$m/5.png" ] && ok=0
        [ $ok -eq 1 ] && pass "explain $m overlays 0..4" || bad "explain $m overlays: $(ls "$tmp/ex/$m")"
    done
    # Overlays are upscaled x4 to 128 px; the sheet has 8 columns (input, mask, 6 methods) of
    # 128 + 4 px, a 10 px header (every label fits one line) and 5 rows.
    [ "$(png_size "$tmp/ex/saliency/0.png")" = "128x128" ] && pass "overlay 128x128" ||
        bad "overlay is $(png_size "$tmp/ex/saliency/0.png")"
    want_sheet="$((4 + 8 * 132))x$((4 + 10 + 4 + 5 * 132))"
    [ "$(png_size "$tmp/ex/sheet.png")" = "$want_sheet" ] && pass "sheet $want_sheet" ||
        bad "sheet is $(png_size "$tmp/ex/sheet.png"), want $want_sheet"
    j=$(last_json "$tmp/json")
    if [[ $j == \{* ]] && [[ $j == *'"count":5'* ]] && [[ $j == *'"integrated_gradients":'* ]] &&
        [[ $j == *'"seconds":'* ]] && [[ $j == *'"methods":["saliency","input_x_gradient"'* ]]; then
        pass "explain JSON"
    else
        bad "explain JSON: $j"
    fi
else
    bad "explain all: $(cat "$tmp/err")"
fi

# Every method (14) on 2 images, with the prediction as target.
if "$sib" explain "${common[@]}" --benchmark shapes --count 2 --method every --target pred --samples 3 --steps 4 \
    --out "$tmp/every" >"$tmp/json" 2>"$tmp/err"; then
    n=$(ls "$tmp"/every/*.npy | wc -l)
    [ "$n" -eq 14 ] && pass "explain every: 14 maps" || bad "explain every: $n maps"
    expect_size "explain rise.npy [2,32,32]" "$tmp/every/rise.npy" $((128 + 4 * 2 * 32 * 32))
    [[ $(last_json "$tmp/json") == *'"target":"pred"'* ]] && pass "explain every JSON" || bad "explain every JSON"
else
    bad "explain every: $(cat "$tmp/err")"
fi

# --keep-channels: the .npy keeps [B,C,H,W]; the pictures stay spatial.
if "$sib" explain "${common[@]}" --benchmark shapes --count 2 --method saliency --keep-channels --out "$tmp/kc" \
    >/dev/null 2>"$tmp/err"; then
    expect_size "keep-channels saliency.npy [2,3,32,32]" "$tmp/kc/saliency.npy" $((128 + 4 * 2 * 3 * 32 * 32))
    [ -s "$tmp/kc/saliency/1.png" ] && pass "keep-channels overlays" || bad "keep-channels overlays"
else
    bad "explain --keep-channels: $(cat "$tmp/err")"
fi

# --input: images [2,3,32,32] (the channel maps above serve as pixels), labels int64 [2].
{ npy_header '<f4' '(2, 3, 32, 32)'; tail -c $((4 * 2 * 3 * 32 * 32)) "$tmp/kc/saliency.npy"; } >"$tmp/x.npy"
{ npy_header '<i8' '(2,)'; printf '\x01\0\0\0\0\0\0\0\x04\0\0\0\0\0\0\0'; } >"$tmp/y.npy"
if "$sib" explain "${common[@]}" --input "$tmp/x.npy" --labels "$tmp/y.npy" --method saliency,gradcam \
    --colormap viridis --out "$tmp/in" >"$tmp/json" 2>"$tmp/err"; then
    expect_size "explain --input gradcam.npy [2,32,32]" "$tmp/in/gradcam.npy" $((128 + 4 * 2 * 32 * 32))
    # No masks: the sheet has 3 columns.
    want_sheet="$((4 + 3 * 132))x$((4 + 10 + 4 + 2 * 132))"
    [ "$(png_size "$tmp/in/sheet.png")" = "$want_sheet" ] && pass "input sheet $want_sheet" ||
        bad "input sheet is $(png_size "$tmp/in/sheet.png"), want $want_sheet"
else
    bad "explain --input: $(cat "$tmp/err")"
fi
"$sib" explain "${common[@]}" --input "$tmp/x.npy" --target pred --method saliency --out "$tmp/pred" >/dev/null 2>&1 &&
    [ -s "$tmp/pred/saliency.npy" ] && pass "explain --input --target pred" || bad "explain --input --target pred"

# Masks [5,1,32,32] float32: the left half of every image is foreground.
{
    npy_header '<f4' '(5, 1, 32, 32)'
    for i in $(seq 160); do printf '\0\0\x80\x3f%.0s' $(seq 16); head -c 64 /dev/zero; done
} >"$tmp/masks.npy"
expect_size "hand-written masks" "$tmp/masks.npy" $((128 + 4 * 5 * 32 * 32))

# eval, form 1: given maps and masks.
if "$sib" eval --maps "$tmp/ex/gradcam_pp.npy" --masks "$tmp/masks.npy" >"$tmp/json" 2>"$tmp/err"; then
    j=$(last_json "$tmp/json")
    ok=1
    for m in ebpg bg_energy pointing_game rank_acc auroc gini; do [[ $j == *"\"$m\":{\"mean\":"* ]] || ok=0; done
    [[ $j == *'"images":5'* ]] && [[ $j == *'"nan_count":'* ]] && [[ $j == *'"lo":'* ]] || ok=0
    [ $ok -eq 1 ] && pass "eval maps JSON" || bad "eval maps JSON: $j"
    grep -q '^| gradcam_pp |' "$tmp/json" && pass "eval maps table" || bad "eval maps table: $(cat "$tmp/json")"
else
    bad "eval maps: $(cat "$tmp/err")"
fi

# eval, form 2: explain and score the benchmark's test split.
if "$sib" eval "${common[@]}" --benchmark shapes --count 12 --methods saliency,gradcam >"$tmp/json" 2>"$tmp/err"; then
    j=$(last_json "$tmp/json")
    [[ $j == *'"accuracy":'* ]] && [[ $j == *'"images":12'* ]] && [[ $j == *'"saliency":{"ebpg":{"mean":'* ]] &&
        [[ $j == *'"gradcam":{'* ]] && pass "eval model JSON" || bad "eval model JSON: $j"
    grep -q '^| saliency | [0-9.]* \[[0-9.]*, [0-9.]*\]' "$tmp/json" && pass "eval model table" ||
        bad "eval model table: $(cat "$tmp/json")"
else
    bad "eval model: $(cat "$tmp/err")"
fi
if "$sib" eval "${common[@]}" --benchmark shapes --count 3 --methods saliency --faithfulness >"$tmp/json" 2>"$tmp/err"; then
    j=$(last_json "$tmp/json")
    [[ $j == *'"deletion":{"mean":'* ]] && [[ $j == *'"insertion":{"mean":'* ]] && pass "eval --faithfulness" ||
        bad "eval --faithfulness JSON: $j"
else
    bad "eval --faithfulness: $(cat "$tmp/err")"
fi

# Bad input: one line, non-zero exit.
"$sib" explain "${common[@]}" --benchmark shapes --count 4 --method saliency --out "$tmp/four" >/dev/null 2>&1
"$sib" explain "${common[@]}" --benchmark shapes --count 1 --method saliency --out "$tmp/one" >/dev/null 2>&1
expect_error "eval maps/masks shapes differ" "maps \[4,32,32\] (.*) and masks \[5,1,32,32\] (.*) differ" \
    "$sib" eval --maps "$tmp/four/saliency.npy" --masks "$tmp/masks.npy"
expect_error "eval one image (maps)" "a bootstrap interval needs at least 2 images, got 1" \
    "$sib" eval --maps "$tmp/one/saliency.npy" --masks "$tmp/one/saliency.npy"
expect_error "eval one image (benchmark)" "a bootstrap interval needs at least 2 images, got 1" \
    "$sib" eval "${common[@]}" --benchmark shapes --count 1
expect_error "layer not 4-D" "gradcam: layer 3 (Flatten) output is \[5,1024\], not 4-D" \
    "$sib" explain "${common[@]}" --benchmark shapes --count 5 --method gradcam --layer 3 --out "$tmp/o"
expect_error "eval layer not 4-D" "layer 4 (Linear(1024,6)) output is \[4,6\], not 4-D" \
    "$sib" eval "${common[@]}" --benchmark shapes --count 4 --methods gradcam_pp --layer 4
expect_error "unknown method" "--method: unknown method 'nope'" \
    "$sib" explain "${common[@]}" --benchmark shapes --method saliency,nope --out "$tmp/o"
expect_error "eval unknown method" "--methods: unknown method 'sailency'" \
    "$sib" eval "${common[@]}" --benchmark shapes --methods sailency
expect_error "input without labels" "--input without --labels needs --target pred" \
    "$sib" explain "${common[@]}" --input "$tmp/x.npy" --method saliency --out "$tmp/o"
expect_error "input without labels, --target label" "--input without --labels needs --target pred" \
    "$sib" explain "${common[@]}" --input "$tmp/x.npy" --target label --method saliency --out "$tmp/o"
expect_error "input and benchmark" "exactly one of --input" \
    "$sib" explain "${common[@]}" --input "$tmp/x.npy" --benchmark shapes --method saliency --out "$tmp/o"
expect_error "unknown benchmark" "unknown 'mnist'" \
    "$sib" explain "${common[@]}" --benchmark mnist --method saliency --out "$tmp/o"
expect_error "keep-channels on a CAM" "--keep-channels applies to the gradient family only" \
    "$sib" explain "${common[@]}" --benchmark shapes --method gradcam --keep-channels --out "$tmp/o"
expect_error "labels out of range" "label 4 at index 1 is out of range for 3 classes" \
    "$sib" explain --model "${spec/Linear(1024,6)/Linear(1024,3)}" --weights "$tmp/m.safetensors" \
    --input "$tmp/x.npy" --labels "$tmp/y.npy" --method saliency --out "$tmp/o"
expect_error "slow metric without --faithfulness" "deletion is slow and runs only with --faithfulness" \
    "$sib" eval "${common[@]}" --benchmark shapes --metrics ebpg,deletion
expect_error "maps without masks" "--maps needs --masks" "$sib" eval --maps "$tmp/ex/saliency.npy"
expect_error "eval without a form" "missing --model" "$sib" eval --benchmark shapes

[ $failures -eq 0 ] && echo "all explain/eval checks passed" || echo "$failures explain/eval checks failed"
exit $failures
