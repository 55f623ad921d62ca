#!/usr/bin/env bash
# The S-IB study: trains CE, S-IB (paper weights and 100x), RRR on the five benchmarks (3 seeds each), explains and
# scores them, and writes reports/study.md plus one contact sheet per benchmark and objective.
# Budget flags pass through to examples/study.cpp (defaults there); e.g.
#   bash scripts/study.sh --train-limit 12000 --epochs 1 --seeds 3
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh >/dev/null
mkdir -p reports/study
start=$(date +%s)
build/bin/study --out reports/study.md --models-dir build/study-models "$@"
# Contact sheets of the seed-0 models (needs `sib explain`).
for bench in fmnist fmnist-decoy fmnist-clutter fmnist-color shapes; do
    for objective in ce sib sib-x100 rrr; do
        name=$bench-$objective
        ck=build/study-models/$name.safetensors
        [ -f "$ck" ] || continue
        spec=$(build/bin/sib info --file "$ck" | sed -n 's/.*"identity":"\([^"]*\)".*/\1/p')
        build/bin/sib explain --model "$spec" --weights "$ck" --benchmark "$bench" --count 8 --method all \
            --out "build/study-sheets/$name" >/dev/null
        cp "build/study-sheets/$name/sheet.png" "reports/study/$name.png"
    done
done
echo "study: $(( ($(date +%s) - start) / 60 )) minutes; report in reports/study.md"
