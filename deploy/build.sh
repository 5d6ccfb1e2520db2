#!/usr/bin/env bash
# Builds baton into build/ (binaries in build/bin/), installing what the build needs
# first. Extra arguments go to the CMake configure step, e.g. -DBATON_WERROR=ON.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${BATON_BUILD_DIR:-$root/build}

"$root/deploy/install-deps.sh"
cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=${BATON_BUILD_TYPE:-RelWithDebInfo} "$@" >/dev/null
cmake --build "$build_dir" --parallel "$(nproc)"
