#!/usr/bin/env bash
# Resource limits and bad values, end to end: a model too large for memory, a data file larger than
# the address-space limit (ulimit -v), a checkpoint past the file-size limit (ulimit -f) or onto a
# full disk, two runs writing one checkpoint, NaN in images and weights. Each gets one line naming
# the problem and a non-zero exit; no temporary file is left behind.
set -uo pipefail
sib=$1
source "$(dirname "$0")/checks.sh"

# write_npy FILE DESCR SHAPE: the .npy header of numpy.lib.format 1.0 for dtype DESCR ('<f4', '<i8')
# and SHAPE ("4, 1, 4, 4"), padded so the data starts at byte 128; the data is appended by the caller.
write_npy() {
    local dict="{'descr': '$2', 'fortran_order': False, 'shape': ($3), }"
    local len=$((128 - 10))
    printf '\x93NUMPY\x01\x00' >"$1"
    printf "\\x$(printf %02x $((len % 256)))\\x$(printf %02x $((len / 256)))" >>"$1"
    printf '%s%*s\n' "$dict" $((len - ${#dict} - 1)) '' >>"$1"
}
f4_zeros() { head -c $(($1 * 4)) /dev/zero; }
i8_labels() { local i; for ((i = 0; i < $1; i++)); do printf "\\x0$((i % 2))\\0\\0\\0\\0\\0\\0\\0"; done; }
no_temporaries() {  # $1 names the check; $2 the folder
    if ls "$2" | grep -q '\.tmp\.'; then bad "$1: a temporary file was left: $(ls "$2")"; else pass "$1: no temporary file"; fi
}

# A small .npy dataset: 4 training and 4 test images [1,4,4], two classes.
data=$tmp/data
mkdir -p "$data"
for split in train test; do
    write_npy "$data/${split}_images.npy" '<f4' '4, 1, 4, 4'
    f4_zeros 64 >>"$data/${split}_images.npy"
    write_npy "$data/${split}_labels.npy" '<i8' '4,'
    i8_labels 4 >>"$data/${split}_labels.npy"
done
small=(--model "Flatten; Linear(16,2)" --objective ce --batch 2 --epochs 1)
if "$sib" train "${small[@]}" --data "$data" --out "$tmp/ok.safetensors" >"$tmp/out" 2>"$tmp/err"; then
    pass "train on the hand-written .npy dataset"
else
    bad "train on the hand-written .npy dataset: $(cat "$tmp/err")"
fi
[ ! -e "$tmp/ok.safetensors.lock" ] && pass "lock file removed after the run" || bad "lock file left after the run"

# A model larger than memory: the layer and the bytes, before allocating.
expect_error "model too large for memory" \
    "layer 1 (Linear(100000000,100000000)): tensor \[100000000,100000000\]: cannot allocate 40000000000000000 bytes (out of memory)" \
    "$sib" bench --model "Flatten; Linear(100000000,100000000)" --input-shape 1x4x4 --steps 1

# NaN in an image: the image and the index [C,H,W] (image 2, row 1, column 3), before training.
nan=$tmp/nan
cp -r "$data" "$nan"
printf '\x00\x00\xc0\x7f' | dd of="$nan/train_images.npy" bs=1 seek=$((128 + (2 * 16 + 1 * 4 + 3) * 4)) conv=notrunc status=none
expect_error "NaN in a training image" "train: training data: image 2 holds nan at \[0,1,3\]" \
    "$sib" train "${small[@]}" --data "$nan" --out "$tmp/nan.safetensors"
[ ! -e "$tmp/nan.safetensors" ] && pass "no checkpoint from NaN data" || bad "a checkpoint was written from NaN data"

# Infinity in a weight: the parameter and its index, when the weights are loaded.
"$sib" train "${small[@]}" --data "$data" --out "$tmp/w.safetensors" >/dev/null 2>&1
weights=$tmp/weights
mkdir -p "$weights"
write_npy "$weights/param.1.weight.npy" '<f4' '2, 16'
f4_zeros 32 >>"$weights/param.1.weight.npy"
printf '\x00\x00\x80\x7f' | dd of="$weights/param.1.weight.npy" bs=1 seek=$((128 + 17 * 4)) conv=notrunc status=none
write_npy "$weights/param.1.bias.npy" '<f4' '2,'
f4_zeros 2 >>"$weights/param.1.bias.npy"
loss=(loss --model "Flatten; Linear(16,2)" --labels "$data/train_labels.npy" --out "$tmp/loss")
expect_error "infinity in a weight" "weights: parameter 1.weight in .*param.1.weight.npy holds inf at \[1,1\]" \
    "$sib" "${loss[@]}" --weights "$weights" --input "$data/train_images.npy"
expect_error "NaN in an input batch" "nan/train_images.npy holds nan at \[2,0,1,3\]" \
    "$sib" "${loss[@]}" --weights "$tmp/w.safetensors" --input "$nan/train_images.npy"

# A checkpoint past the file-size limit: one line, no temporary file, exit non-zero (not SIGXFSZ).
mkdir -p "$tmp/fsize"
expect_final_error "checkpoint past ulimit -f" \
    "write failed (the file would pass the file-size limit of 1024 bytes, ulimit -f); stopped, no checkpoint was written" \
    bash -c 'ulimit -f 1; exec "$@"' _ "$sib" train "${small[@]}" --data "$data" --out "$tmp/fsize/ck.safetensors"
no_temporaries "checkpoint past ulimit -f" "$tmp/fsize"

# A checkpoint onto a full disk (a 64 KiB tmpfs; needs root and a mount, skipped elsewhere).
mkdir -p "$tmp/full"
if mount -t tmpfs -o size=64k sib-test-full "$tmp/full" 2>/dev/null; then
    expect_final_error "checkpoint onto a full disk" "write failed (No space left on device); stopped, no checkpoint was written" \
        "$sib" train --model "Flatten; Linear(16,4000); ReLU; Linear(4000,2)" --objective ce --batch 2 --epochs 1 \
        --data "$data" --out "$tmp/full/ck.safetensors"
    no_temporaries "checkpoint onto a full disk" "$tmp/full"
    umount "$tmp/full"
else
    echo "skip checkpoint onto a full disk (cannot mount a tmpfs here)"
fi

# Two runs writing one checkpoint: the second is refused while the first runs.
"$sib" train --model "Flatten; Linear(16,2)" --objective ce --batch 2 --epochs 100000 --data "$data" \
    --out "$tmp/busy.safetensors" >/dev/null 2>&1 &
first=$!
for _ in $(seq 1 200); do [ -e "$tmp/busy.safetensors.lock" ] && break; sleep 0.05; done
expect_error "second run on the same --out" "busy.safetensors is being written by another run (process $first)" \
    "$sib" train "${small[@]}" --data "$data" --out "$tmp/busy.safetensors"
kill -9 "$first" 2>/dev/null; wait "$first" 2>/dev/null
# A lock whose holder was killed is no claim: the next run proceeds.
if "$sib" train "${small[@]}" --data "$data" --out "$tmp/busy.safetensors" >/dev/null 2>"$tmp/err"; then
    pass "a killed holder's lock does not block the next run"
else
    bad "after the holder was killed: $(cat "$tmp/err")"
fi

# A data file larger than the address-space limit: named with its shape and bytes. The file is
# sparse (1.9 GB declared, no disk used). AddressSanitizer cannot run under ulimit -v: skipped there.
if [[ $(ldd "$sib" 2>/dev/null) == *libasan* ]]; then
    echo "skip data larger than ulimit -v (a sanitizer build)"
else
    big=$tmp/big
    mkdir -p "$big"
    cp "$data"/test_* "$big/"
    write_npy "$big/train_images.npy" '<f4' '600000, 1, 28, 28'
    truncate -s $((128 + 600000 * 784 * 4)) "$big/train_images.npy"
    write_npy "$big/train_labels.npy" '<i8' '600000,'
    truncate -s $((128 + 600000 * 8)) "$big/train_labels.npy"
    expect_error "data larger than ulimit -v" \
        "train_images.npy: cannot hold its \[600000,1,28,28\] float32 data (1881600000 bytes) in memory (out of memory)" \
        bash -c 'ulimit -v 1000000; exec "$@"' _ "$sib" train --model "Flatten; Linear(784,2)" --data "$big" \
        --out "$tmp/big.safetensors" --threads 1
fi

[ $failures -eq 0 ] && echo "all limit checks passed" || echo "$failures limit checks failed"
exit $failures
