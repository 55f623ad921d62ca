#!/usr/bin/env bash
# Configures and builds sib (tools, tests, examples) in build/ with every core.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
# SIB_BUILD_TARGET=sib_cli builds the command line alone (the main job needs nothing else).
cmake --build build -j"$(nproc)" ${SIB_BUILD_TARGET:+--target "$SIB_BUILD_TARGET"}
