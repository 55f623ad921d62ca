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

[ $failures -eq 0 ] && echo "all CLI checks passed" || echo "$failures CLI checks failed"
exit $failures
