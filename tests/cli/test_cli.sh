#!/usr/bin/env bash
# The sib command line end to end: a golden case through `sib loss`, and every kind of bad input
# giving one line on stderr and a non-zero exit (never a crash: exit codes >= 128 fail the test).
set -uo pipefail
sib=$1 golden=$2
source "$(dirname "$0")/checks.sh"

case_dir=$golden/cnn_1x12x12
spec=$(sed -n 's/.*"spec": "\(.*\)",/\1/p' "$case_dir/meta.json")

# The total in $tmp/json against the fixture's, to 1e-8 relative; $1 names the check.
check_golden_total() {
    local total want
    total=$(sed -n 's/.*"total":\([-0-9.e+]*\).*/\1/p' "$tmp/json")
    want=$(sed -n 's/.*"total": \([-0-9.e+]*\).*/\1/p' "$case_dir/meta.json")
    if awk -v a="$total" -v b="$want" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 1e-8 * b) }'; then
        pass "$1 golden total $total"
    else
        bad "$1 golden total $total != $want"
    fi
}

# Golden case through the CLI: the JSON line carries the fixture's total.
if "$sib" loss --model "$spec" --weights "$case_dir" --input "$case_dir/x.npy" --labels "$case_dir/y.npy" \
    --window 5 --out "$tmp/loss" >"$tmp/json" 2>"$tmp/err"; then
    check_golden_total "loss"
    for f in logits R M grad.0.weight grad.7.bias; do
        [ -s "$tmp/loss/$f.npy" ] && pass "wrote $f.npy" || bad "missing $f.npy"
    done
else
    bad "loss on golden case: $(cat "$tmp/err")"
fi

# The Thrust backend on the CPU gives the same total (where this sib was built with Thrust).
if "$sib" loss --backend thrust-omp --model "$spec" --weights "$case_dir" --input "$case_dir/x.npy" \
    --labels "$case_dir/y.npy" --window 5 --out "$tmp/loss_thrust" >"$tmp/json" 2>"$tmp/err"; then
    check_golden_total "loss --backend thrust-omp"
elif grep -q "built without Thrust" "$tmp/err"; then
    pass "loss --backend thrust-omp: not built here"
else
    bad "loss --backend thrust-omp: $(cat "$tmp/err")"
fi

# --eval-mode: the golden total where nothing depends on the mode; with BatchNorm, running statistics
# in place of the batch's give another total.
if "$sib" loss --model "$spec" --weights "$case_dir" --input "$case_dir/x.npy" --labels "$case_dir/y.npy" \
    --window 5 --eval-mode --out "$tmp/loss_eval" >"$tmp/json" 2>"$tmp/err"; then
    check_golden_total "loss --eval-mode (no BatchNorm)"
else
    bad "loss --eval-mode: $(cat "$tmp/err")"
fi
bn_spec="Conv2d(1,4,3,padding=1); BatchNorm2d(4); ReLU; AdaptiveAvgPool2d(2); Flatten; Linear(16,10)"
if "$sib" train --model "$bn_spec" --benchmark fmnist --train-limit 64 --test-limit 64 --batch 32 --epochs 2 \
    --objective ce --log "$tmp/bn.jsonl" --log-every 1 --out "$tmp/bn.safetensors" >/dev/null 2>"$tmp/err"; then
    bn_total() {
        "$sib" loss --model "$bn_spec" --weights "$tmp/bn.safetensors" --input "$case_dir/x.npy" \
            --labels "$case_dir/y.npy" --window 5 --out "$tmp/loss_bn" "$@" 2>"$tmp/err" |
            sed -n 's/.*"total":\([-0-9.e+]*\).*/\1/p'
    }
    train_total=$(bn_total) eval_total=$(bn_total --eval-mode)
    if [ -n "$train_total" ] && [ -n "$eval_total" ] && [ "$train_total" != "$eval_total" ]; then
        pass "loss with BatchNorm: training mode $train_total, --eval-mode $eval_total"
    else
        bad "loss with BatchNorm: training '$train_total' and eval '$eval_total' totals ($(cat "$tmp/err"))"
    fi
else
    bad "train a BatchNorm model: $(cat "$tmp/err")"
fi

# sib plot (not in bin/sib-sanitized, which carries loss, bench, train and info only): the log's curves as one PNG, a panel per number (train loss, test accuracy, ce by epoch;
# loss and ce by step); the PNG's size is in its header (width and height at bytes 16-23).
if ! "$sib" --help | grep -q '^  plot '; then
    pass "plot: not in this binary"
elif "$sib" plot --log "$tmp/bn.jsonl,$tmp/bn.jsonl" --out "$tmp/curves.png" --columns 2 >"$tmp/json" 2>"$tmp/err" &&
    grep -q '"panels":5' "$tmp/json"; then
    size=$(od -An -tu1 -j16 -N8 "$tmp/curves.png" | awk '{ print $3 * 256 + $4, $7 * 256 + $8 }')
    [ "$size" = "840 840" ] && pass "plot: 5 panels, 2 a row, $size pixels" || bad "plot: picture of $size pixels"
else
    bad "plot: $(cat "$tmp/json" "$tmp/err")"
fi
if "$sib" --help | grep -q '^  plot '; then
    expect_error "plot of a missing log" "no-such.jsonl: cannot open the log" "$sib" plot --log "$tmp/no-such.jsonl" --out "$tmp/c.png"
    printf '{"event":"epoch","epoch":1}\nnot json\n' >"$tmp/bad.jsonl"
    expect_error "plot of a bad log" "bad.jsonl: line 2 is not JSON" "$sib" plot --log "$tmp/bad.jsonl" --out "$tmp/c.png"
    "$sib" plot --help >/dev/null && pass "plot --help" || bad "plot --help"
fi

"$sib" loss --help >/dev/null && pass "loss --help" || bad "loss --help"
"$sib" bench --help >/dev/null && pass "bench --help" || bad "bench --help"
"$sib" --help >/dev/null && pass "--help" || bad "--help"

# loss_with KEY VALUE ...: the golden case's loss flags with some replaced.
loss_with() {
    local -A f=([--model]="$spec" [--weights]="$case_dir" [--input]="$case_dir/x.npy"
                [--labels]="$case_dir/y.npy" [--out]="$tmp/o")
    local extra=()
    while [ $# -gt 0 ]; do
        if [ -n "${f[$1]+x}" ]; then f[$1]=$2; else extra+=("$1" "$2"); fi
        shift 2
    done
    "$sib" loss --model "${f[--model]}" --weights "${f[--weights]}" --input "${f[--input]}" \
        --labels "${f[--labels]}" --out "${f[--out]}" "${extra[@]}"
}

expect_error "unknown subcommand" "unknown command 'frobnicate'" "$sib" frobnicate
expect_error "unknown backend" "--backend" loss_with --backend opencl
expect_error "unknown flag" "unknown flag '--bogus'" loss_with --bogus 1
expect_error "missing flag" "missing required flag --labels" "$sib" loss --model "$spec" --weights "$case_dir" --input "$case_dir/x.npy" --out "$tmp/o"
expect_error "even window" "window must be odd" loss_with --window 4
expect_error "unknown layer" "unknown layer 'Conv3d'" loss_with --model "Conv3d(1,4,3); Flatten"
expect_error "missing input" "nope.npy" loss_with --input "$tmp/nope.npy"

head -c 100 "$case_dir/x.npy" >"$tmp/trunc.npy"
expect_error "truncated npy" "truncated" loss_with --input "$tmp/trunc.npy"
printf 'not an npy file at all' >"$tmp/bad.npy"
expect_error "not an npy" "bad.npy" loss_with --input "$tmp/bad.npy"
expect_error "float labels" "y.npy\\|labels\\|float" loss_with --labels "$case_dir/x.npy"
expect_error "wrong dtype flag" "--dtype must be one of" loss_with --dtype float16

# A weight whose shape disagrees with the spec names the parameter and both shapes.
mkdir -p "$tmp/w"; cp "$case_dir"/param.*.npy "$tmp/w/"
cp "$case_dir/param.0.bias.npy" "$tmp/w/param.3.bias.npy"
expect_error "weight shape" "3.bias has shape \[6\] in the model but \[4\]" loss_with --weights "$tmp/w"
rm "$tmp/w/param.7.weight.npy"; cp "$case_dir/param.3.bias.npy" "$tmp/w/"
expect_error "missing weight" "param.7.weight.npy not found" loss_with --weights "$tmp/w"
printf 'garbage' >"$tmp/w.safetensors"
expect_error "corrupt safetensors" "w.safetensors" loss_with --weights "$tmp/w.safetensors"
expect_error "spec does not fit" "Linear(50,5): expects input \[N,50\], got \[5,54\]" loss_with --model "${spec/Linear(54,5)/Linear(50,5)}"
expect_error "bench bad shape" "input-shape" "$sib" bench --model "Flatten; Linear(4,2)" --input-shape 2x2
expect_error "bench spec does not fit" "Linear(4,2)" "$sib" bench --model "Flatten; Linear(4,2)" --input-shape 1x3x3 --steps 1

# bench prints JSON with the timing fields on its last line.
if "$sib" bench --model "Flatten; Linear(16,3)" --input-shape 1x4x4 --batch 4 --steps 2 --warmup 1 >"$tmp/bench" 2>/dev/null &&
    tail -n 1 "$tmp/bench" | grep -q '"ms_per_step"' && tail -n 1 "$tmp/bench" | grep -q '"images_per_second"'; then
    pass "bench JSON"
else
    bad "bench JSON: $(cat "$tmp/bench")"
fi

# A named model end to end: trained on `shapes` (6 classes, 3x32x32), its checkpoint's identity is
# the --model string (sib info's "model"), which reopens it in sib loss (S-IB step, gradients under
# torchvision's names), on the Thrust backend too (the same total), in sib bench and sib explain
# (--layer by torchvision's module path).
# write_npy FILE DESCR SHAPE COUNT f|i: a .npy file (format 1.0), smooth values or labels 0..5.
write_npy() {
    perl -e '
        my ($file, $descr, $shape, $n, $kind) = @ARGV;
        my $h = "{\x27descr\x27: \x27$descr\x27, \x27fortran_order\x27: False, \x27shape\x27: $shape, }";
        $h .= " " x ((64 - (10 + length($h) + 1) % 64) % 64) . "\n";
        open(my $f, ">:raw", $file) or die "$file: $!";
        print $f "\x93NUMPY\x01\x00", pack("v", length($h)), $h;
        print $f ($kind eq "f" ? pack("d<*", map { 0.5 + 0.4 * sin(0.37 * $_) } 0 .. $n - 1)
                               : pack("q<*", map { $_ % 6 } 0 .. $n - 1));
    ' "$@"
}
named="resnet18_small(num_classes=6,width=4)"
write_npy "$tmp/x3.npy" '<f8' '(4, 3, 16, 16)' 3072 f
write_npy "$tmp/y3.npy" '<i8' '(4,)' 4 i
named_loss() {  # named_loss OUT [flags...]: sib loss of the named model's checkpoint; prints the total
    local out=$1; shift
    "$sib" loss --model "$named" --weights "$tmp/named.safetensors" --input "$tmp/x3.npy" --labels "$tmp/y3.npy" \
        --window 3 --out "$out" "$@" 2>"$tmp/err" | sed -n 's/.*"total":\([-0-9.e+]*\).*/\1/p'
}
if "$sib" train --model "$named" --benchmark shapes --train-limit 16 --test-limit 8 --batch 8 --epochs 1 \
    --objective ce --out "$tmp/named.safetensors" >/dev/null 2>"$tmp/err"; then
    pass "train $named"
    if "$sib" info --file "$tmp/named.safetensors" >"$tmp/json" 2>"$tmp/err" &&
        grep -q "\"model\":\"$named\"" "$tmp/json" && grep -q '"layer2.0.downsample.1.num_batches_tracked":"\[\]"' "$tmp/json"; then
        pass "info: the checkpoint's model is \"$named\", torchvision's keys"
    else
        bad "info of the named model's checkpoint: $(cat "$tmp/json" "$tmp/err")"
    fi
    total=$(named_loss "$tmp/named_loss")
    if [ -n "$total" ] && [ -s "$tmp/named_loss/grad.conv1.weight.npy" ] &&
        [ -s "$tmp/named_loss/grad.layer2.0.downsample.0.weight.npy" ] && [ -s "$tmp/named_loss/grad.fc.bias.npy" ] &&
        [ -s "$tmp/named_loss/R.npy" ]; then
        pass "loss --model \"$named\": total $total, grad.layer2.0.downsample.0.weight.npy"
    else
        bad "loss --model \"$named\": '$total' $(cat "$tmp/err")"
    fi
    eval_total=$(named_loss "$tmp/named_eval" --eval-mode)
    [ -n "$eval_total" ] && [ "$eval_total" != "$total" ] && pass "loss --eval-mode: $eval_total" ||
        bad "loss --eval-mode of the named model: '$eval_total' ($(cat "$tmp/err"))"
    thrust_total=$(named_loss "$tmp/named_thrust" --backend thrust-omp)
    if [ -n "$thrust_total" ]; then
        if awk -v a="$thrust_total" -v b="$total" 'BEGIN { d = a - b; if (d < 0) d = -d; if (b < 0) b = -b; exit !(d <= 1e-8 * b) }'; then
            pass "loss --backend thrust-omp of the named model: $thrust_total"
        else
            bad "loss --backend thrust-omp of the named model: $thrust_total != $total"
        fi
    elif grep -q "built without Thrust" "$tmp/err"; then
        pass "loss --backend thrust-omp: not built here"
    else
        bad "loss --backend thrust-omp of the named model: $(cat "$tmp/err")"
    fi
    if "$sib" --help | grep -q '^  explain '; then
        ex() { "$sib" explain --model "$named" --weights "$tmp/named.safetensors" --benchmark shapes --count 2 \
            --method gradcam --dtype float64 "$@" >"$tmp/json" 2>"$tmp/err"; }
        # layer4 is its last block's ReLU, layer 18 (3 stem layers, 8 blocks and their ReLUs, then
        # avgpool, flatten, fc); layer3 another. The default is layer4 too (avgpool's 1x1 is skipped).
        if ex --layer layer4 --out "$tmp/ex_layer4" && ex --layer 18 --out "$tmp/ex_18" && ex --layer layer3 --out "$tmp/ex_layer3" &&
            ex --out "$tmp/ex_default" && cmp -s "$tmp/ex_default/gradcam.npy" "$tmp/ex_18/gradcam.npy" &&
            cmp -s "$tmp/ex_layer4/gradcam.npy" "$tmp/ex_18/gradcam.npy" &&
            ! cmp -s "$tmp/ex_layer3/gradcam.npy" "$tmp/ex_18/gradcam.npy"; then
            pass "explain --layer layer4 is layer 18 (layer4.1.relu) and the default, layer3 another"
        else
            bad "explain --layer by module path: $(cat "$tmp/err")"
        fi
        # Every method of explain and every metric of eval (deletion and insertion too) on the ResNet:
        # the header and one row per method, nothing undefined in the JSON.
        if "$sib" eval --model "$named" --weights "$tmp/named.safetensors" --benchmark shapes --count 2 --methods every \
            --faithfulness --resamples 50 --steps 4 --samples 3 >"$tmp/eval" 2>"$tmp/err" &&
            [ "$(grep -c '^| [a-z_]* |' "$tmp/eval")" -eq 15 ] && tail -n 1 "$tmp/eval" | grep -q '"rise"' &&
            tail -n 1 "$tmp/eval" | grep -q '"deletion"' && ! tail -n 1 "$tmp/eval" | grep -q 'null\|"nan_count":[1-9]'; then
            pass "eval --methods every --faithfulness on $named"
        else
            bad "eval of every method on the named model: $(tail -n 3 "$tmp/eval") $(cat "$tmp/err")"
        fi
        expect_error "explain --layer unknown path" "--layer: no module 'layer9' in the model (its modules: conv1, bn1, relu, layer1" \
            "$sib" explain --model "$named" --weights "$tmp/named.safetensors" --benchmark shapes --count 2 \
            --method gradcam --layer layer9 --out "$tmp/ex_bad"
    fi
else
    bad "train $named: $(cat "$tmp/err")"
fi
if "$sib" bench --model "$named" --input-shape 3x16x16 --batch 4 --steps 1 --warmup 0 >"$tmp/bench" 2>/dev/null &&
    tail -n 1 "$tmp/bench" | grep -q '"ms_per_step"'; then
    pass "bench --model \"$named\""
else
    bad "bench of a named model: $(cat "$tmp/bench")"
fi
expect_error "unknown model" "unknown model or layer 'resnet19' (models: resnet18, resnet34" loss_with --model "resnet19(num_classes=5)"
expect_error "bad model argument" "unknown argument 'depth' for resnet18_small(num_classes=1000, in_channels=3, width=64)" \
    loss_with --model "resnet18_small(depth=3)"
expect_error "unclosed Residual" "unclosed '('" loss_with --model "Conv2d(1,4,3); Residual([ReLU]"
"$sib" --help | grep -q '^  resnet50_small(num_classes=1000, in_channels=3, width=64)' && pass "--help lists the named models" ||
    bad "--help lacks the named models"

[ $failures -eq 0 ] && echo "all CLI checks passed" || echo "$failures CLI checks failed"
exit $failures
