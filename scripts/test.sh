#!/usr/bin/env bash
# The README's test command: install, build, run every test (the unit, CLI and kill/resume suites
# also built with ASan + UBSan), then fuzz each reader briefly.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
(cd build && ctest --output-on-failure)
# Every reader's libFuzzer harness for 20 s, with a fixed seed so that a run repeats (docs/hardening.md).
FUZZ_SEED=1 bash scripts/fuzz.sh 20
