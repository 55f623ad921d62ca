#!/usr/bin/env bash
# `sib train` killed with SIGKILL at random moments: the checkpoint on disk always loads, and
# resuming until the run completes gives exactly the weights of an uninterrupted run.
set -uo pipefail
sib=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
spec="Conv2d(3,4,3,padding=1); ReLU; MaxPool2d(2); Flatten; Linear(1024,6)"
common=(--model "$spec" --benchmark shapes --train-limit 384 --test-limit 64 --epochs 6 --batch 32
        --objective sib --checkpoint-every 1 --threads 1 --seed 3)
checksum() { "$sib" info --file "$1" | sed -n 's/.*"weights_fnv1a":"\([0-9a-f]*\)".*/\1/p'; }

start=$(date +%s.%N)
"$sib" train "${common[@]}" --out "$tmp/full.safetensors" >"$tmp/full.log" 2>&1 || { cat "$tmp/full.log"; exit 1; }
# Kills land within the time a whole run takes here, so that they interrupt it whatever the machine.
full=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }')
want=$(checksum "$tmp/full.safetensors")
[ -n "$want" ] || { echo "FAIL: no checksum"; exit 1; }

RANDOM=42
kills=0
for attempt in $(seq 1 60); do
    resume=()
    [ -f "$tmp/part.safetensors" ] && resume=(--resume "$tmp/part.safetensors")
    "$sib" train "${common[@]}" --out "$tmp/part.safetensors" "${resume[@]}" >"$tmp/part.log" 2>&1 &
    pid=$!
    # Kill at a random moment within a fifth of a whole run's time, so that several kills land before the
    # resumed runs finish (after 20 attempts, let it finish).
    delay=$(awk -v r=$RANDOM -v a="$attempt" -v f="$full" \
        'BEGIN { if (a > 20) printf "%.3f", 10 * f + 5; else printf "%.3f", (r % 100) / 100.0 * 0.2 * f }')
    sleep "$delay"
    if kill -9 "$pid" 2>/dev/null; then
        wait "$pid" 2>/dev/null
        kills=$((kills + 1))
        if [ -f "$tmp/part.safetensors" ] && ! "$sib" info --file "$tmp/part.safetensors" >/dev/null 2>"$tmp/err"; then
            echo "FAIL: checkpoint unreadable after kill $kills: $(cat "$tmp/err")"
            exit 1
        fi
        continue
    fi
    wait "$pid"
    rc=$?
    [ $rc -eq 0 ] || { echo "FAIL: run exited $rc"; cat "$tmp/part.log"; exit 1; }
    got=$(checksum "$tmp/part.safetensors")
    if [ "$got" = "$want" ]; then
        # A run that was never interrupted would prove nothing.
        [ $kills -ge 3 ] || { echo "FAIL: only $kills kills landed before the run finished (a run takes ${full} s)"; exit 1; }
        echo "ok: $kills kills, resumed to identical weights ($got)"
        exit 0
    fi
    echo "FAIL: weights $got after $kills kills, uninterrupted run has $want"
    exit 1
done
echo "FAIL: run did not complete in 60 attempts"
exit 1
