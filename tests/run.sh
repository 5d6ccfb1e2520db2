#!/usr/bin/env bash
# The whole test suite from a fresh clone: installs the Debian packages and the npm
# packages (the demo engine's and the browser test's), builds with warnings as errors,
# and runs every ctest label except the long ones. Extra arguments go to ctest (-L unit).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${BATON_BUILD_DIR:-$root/build}

"$root/deploy/build.sh" -DBATON_WERROR=ON
for package in deploy/demo-engine tests/browser tests/deploy; do
  (cd "$root/$package" && npm ci --no-audit --no-fund --loglevel=error)
done
cd "$build_dir"
ctest --output-on-failure --parallel "$(nproc)" --label-exclude long "$@"
