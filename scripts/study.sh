#!/usr/bin/env bash
# The S-IB study: trains CE, S-IB with both weights scaled by s (--scales, default 1,10,100,1000) and
# RRR on the five benchmarks (3 seeds each, per-epoch diagnostics), explains and scores them, and
# writes reports/study.md with its charts and logs in reports/study/, plus one contact sheet per
# benchmark and arm. The hand-written reading in reports/study-reading.md, where it exists, goes at
# the top. Budget flags pass through to examples/study.cpp (defaults there); e.g.
#   bash scripts/study.sh --train-limit 12000 --epochs 5 --seeds 3
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh >/dev/null
mkdir -p reports/study
start=$(date +%s)
reading=()
[ -f reports/study-reading.md ] && reading=(--reading reports/study-reading.md)
build/bin/study --out reports/study.md --models-dir build/study-models "${reading[@]}" "$@"
# Contact sheets of the seed-0 models (needs `sib explain`).
for ck in build/study-models/*.safetensors; do
    name=$(basename "$ck" .safetensors)
    bench=${name%%-ce} bench=${bench%%-sib-s*} bench=${bench%%-rrr}
    spec=$(build/bin/sib info --file "$ck" | sed -n 's/.*"identity":"\([^"]*\)".*/\1/p')
    build/bin/sib explain --model "$spec" --weights "$ck" --benchmark "$bench" --count 8 --method all \
        --out "build/study-sheets/$name" >/dev/null
    cp "build/study-sheets/$name/sheet.png" "reports/study/$name.png"
done
echo "study: $(( ($(date +%s) - start) / 60 )) minutes; report in reports/study.md (commit $(git rev-parse --short HEAD))"
