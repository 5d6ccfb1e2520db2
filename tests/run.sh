#!/usr/bin/env bash
# The whole test suite from a fresh clone: installs the Debian packages and the demo
# engine's npm packages, builds with warnings as errors, and runs every ctest label
# except the long ones. Extra arguments go to ctest (e.g. -L unit).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${BATON_BUILD_DIR:-$root/build}

"$root/deploy/build.sh" -DBATON_WERROR=ON
(cd "$root/deploy/demo-engine" && npm ci --no-audit --no-fund --loglevel=error)
cd "$build_dir"
ctest --output-on-failure --parallel "$(nproc)" --label-exclude long "$@"
