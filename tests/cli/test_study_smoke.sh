#!/usr/bin/env bash
# The study at a tiny budget (one benchmark, one seed, two scales; shapes trains the small-image
# ResNet-18, here 4 channels wide): checks the report's structure (sections, tables, pictures,
# contact sheets, per-epoch diagnostics in the logs), not its findings.
set -uo pipefail
study=$1
source "$(dirname "$0")/checks.sh"

"$study" --help >"$tmp/help" 2>&1 && grep -q -- "--resnet-rrr-lambda" "$tmp/help" && pass "study --help lists the flags" ||
    bad "study --help: $(head -2 "$tmp/help")"
"$study" --seeds three --out "$tmp/never.md" >"$tmp/out" 2>"$tmp/err"
[ $? = 2 ] && [ "$(wc -l <"$tmp/err")" = 1 ] && grep -q -- "--seeds: not a number: three" "$tmp/err" && [ ! -e "$tmp/never.md" ] &&
    pass "a bad value: one line, exit 2, nothing written" || bad "bad value: $(cat "$tmp/err")"
printf 'Reading written by hand.\n' >"$tmp/reading.md"
if "$study" --benchmarks shapes --seeds 1 --resnet-train-limit 128 --test-limit 32 --resnet-explain-count 8 --resnet-epochs 2 \
    --resnet-width 4 --models-dir "$tmp/models" --scales 1,100 --diagnose 8 --reading "$tmp/reading.md" --out "$tmp/report.md" >"$tmp/out" 2>"$tmp/err"; then
    pass "study ran: $(cat "$tmp/out")"
else
    bad "study: $(tail -3 "$tmp/err")"
fi
report=$tmp/report.md
for text in "# S-IB study" "Reading written by hand." "## How this was made" "## shapes" "Model: \`resnet18_small(num_classes=6,in_channels=3,width=4)\`; the first 128 training images, 2 epoch(s), 8 test images explained, the first 8 of them also by deletion and insertion" "| method | CE | S-IB s=1 - CE | S-IB s=100 - CE | RRR - CE |" "RRR lambda 1000 on the small CNN and 0.1 on the ResNet" \
    "**ebpg**" "**gini**" "**deletion** (mean [95% CI]; differences from CE paired by seed and image; lower is better" "**insertion**" "| gradcam_pp |" "![shapes accuracy](report/shapes-accuracy.png)" \
    "![shapes metrics against s](report/shapes-metrics.png)" "![shapes training curves](report/shapes-curves.png)" "Total time:"; do
    grep -qF -- "$text" "$report" && pass "report has '$text'" || bad "report lacks '$text'"
done
for png in shapes-accuracy shapes-metrics shapes-curves shapes-ce shapes-sib-s100 shapes-rrr; do
    [ "$(head -c 8 "$tmp/report/$png.png" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] && pass "$png.png is a PNG" ||
        bad "$png.png missing or not a PNG"
done
for arm in ce sib-s1 sib-s100 rrr; do
    log=$tmp/report/logs/shapes-$arm-seed0.jsonl
    [ "$(grep -c '"event":"epoch"' "$log" 2>/dev/null)" = 2 ] && grep -q '"grad_norm_ce"' "$log" &&
        pass "log of $arm: 2 epochs with diagnostics" || bad "log of $arm: $(cat "$log" 2>&1 | head -2)"
done
grep -q '"grad_ratio_bg"' "$tmp/report/logs/shapes-sib-s100-seed0.jsonl" && pass "S-IB log has grad_ratio_bg" ||
    bad "S-IB log lacks grad_ratio_bg"
grep -q '"mask_iou"' "$tmp/report/logs/shapes-ce-seed0.jsonl" && pass "CE log has mask_iou" || bad "CE log lacks mask_iou"
[ $failures -eq 0 ] && echo "all study checks passed" || echo "$failures study checks failed"
exit $failures
