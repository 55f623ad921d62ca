#!/usr/bin/env bash
# Installs what sib needs to build and test, from Debian's packages only (Debian 12, as root).
# Quiet and quick when everything is already there.
set -euo pipefail
packages=(cmake make g++ pkg-config ccache libeigen3-dev xtensor-dev xtl-dev doctest-dev
          zlib1g-dev libstb-dev libbenchmark-dev libopenblas-dev dataset-fashion-mnist
          clang-14 libclang-rt-14-dev openmpi-bin libopenmpi-dev)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
