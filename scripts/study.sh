#!/usr/bin/env bash
# The S-IB study: trains CE, S-IB with both weights scaled by s (--scales, default 1,10,100,1000) and
# RRR on the five benchmarks (3 seeds each, per-epoch diagnostics), explains and scores them, and
# writes reports/study.md with its charts, contact sheets (one per benchmark and arm) and logs in
# reports/study/. The hand-written reading in reports/study-reading.md, where it exists, goes at
# the top. Budget flags pass through to examples/study.cpp (defaults there); e.g.
#   bash scripts/study.sh --train-limit 12000 --epochs 5 --seeds 3 --resnet-train-limit 6000
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
SIB_BUILD_TARGET=study bash scripts/build.sh >/dev/null
# OpenBLAS's AVX-512 kernels where the CPU has them (as the benchmarks use; sib runs its own threads).
source benchmarks/blas_env.sh
mkdir -p reports/study
# The commit is taken now: the study runs for an hour or more, and work may be committed meanwhile.
commit=$(git rev-parse --short HEAD)
commit_date=$(git log -1 --format=%cs)
git diff --quiet HEAD -- include examples scripts || commit="$commit plus uncommitted changes"
start=$(date +%s)
reading=()
[ -f reports/study-reading.md ] && reading=(--reading reports/study-reading.md)
build/bin/study --out reports/study.md --models-dir build/study-models "${reading[@]}" "$@"
minutes=$(( ($(date +%s) - start) / 60 ))
# Which code and which command made these numbers, so anyone can make them again.
printf '\nMade by `bash scripts/study.sh%s` at commit %s (%s) in %d minutes of wall time (%s; %s).\n' \
    "$(printf ' %s' "$@")" "$commit" "$commit_date" "$minutes" "$(nproc) cores" "$blas_env_text" >>reports/study.md
echo "study: $minutes minutes; report in reports/study.md (commit $commit)"
