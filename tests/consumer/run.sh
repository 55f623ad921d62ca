#!/usr/bin/env bash
# Builds and runs tests/consumer (a user's program) with sib got one of three ways:
#   run.sh find_package     SRC BUILD [cmake args...]  installs BUILD's library (install component
#                           sib) into a temporary prefix and uses find_package(sib); first a
#                           consumer without stb, xtensor, CUDA (and Thrust, where it is outside
#                           /usr) must still configure, without those targets
#   run.sh add_subdirectory SRC BUILD [cmake args...]  add_subdirectory(SRC)
#   run.sh fetchcontent     SRC BUILD [cmake args...]  FetchContent_Declare(sib SOURCE_DIR SRC)
# The cmake args (generator, compiler) go to the consumer's configure. The program is built at -O1
# without a build type: one small translation unit, here to configure, build and run.
set -euo pipefail
mode=$1 src=$2 build=$3
shift 3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
quiet() {  # runs a command, shows its output only when it fails
  if ! "$@" >"$tmp/log" 2>&1; then
    cat "$tmp/log"
    echo "FAILED: $*" >&2
    exit 1
  fi
}
configure=(cmake -S "$src/tests/consumer" -DCMAKE_CXX_FLAGS=-O1 "$@")
case $mode in
  find_package)
    quiet cmake --install "$build" --prefix "$tmp/prefix" --component sib
    hide=(-DCMAKE_DISABLE_FIND_PACKAGE_PkgConfig=ON -DCMAKE_DISABLE_FIND_PACKAGE_xtensor=ON
          -DCMAKE_DISABLE_FIND_PACKAGE_CUDAToolkit=ON)
    absent="image;xtensor;cuda"
    thrust=$(sed -n 's/^SIB_THRUST_INCLUDE_DIR:[A-Z]*=//p' "$build/CMakeCache.txt")
    if [[ -n $thrust && $thrust != *NOTFOUND && $thrust != /usr/include ]]; then
      hide+=(-DCMAKE_IGNORE_PATH="$thrust")
      absent+=";thrust_host"
    fi
    quiet "${configure[@]}" -B "$tmp/minimal" -DCMAKE_PREFIX_PATH="$tmp/prefix" "${hide[@]}" \
          -DSIB_EXPECT_ABSENT="$absent"
    grep '^-- consumer:' "$tmp/log"
    quiet "${configure[@]}" -B "$tmp/build" -DCMAKE_PREFIX_PATH="$tmp/prefix"
    grep '^-- consumer:' "$tmp/log"
    ;;
  add_subdirectory | fetchcontent)
    quiet "${configure[@]}" -B "$tmp/build" -DSIB_CONSUME="$mode" -DSIB_SOURCE_DIR="$src"
    grep '^-- sib' "$tmp/log" || true
    ;;
  *)
    echo "run.sh: unknown mode '$mode' (find_package, add_subdirectory, fetchcontent)" >&2
    exit 2
    ;;
esac
quiet cmake --build "$tmp/build"
"$tmp/build/consumer"
"$tmp/build/consumer_compiled"
