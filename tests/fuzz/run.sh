#!/usr/bin/env bash
# Builds the libFuzzer binaries (clang, ASan + UBSan) in build-fuzz and runs every
# target for the given number of seconds (default 60), one after another, one job each.
#
#   tests/fuzz/run.sh [seconds] [target...]
#
# Each run starts from tests/fuzz/corpus/<target> and writes what it finds new into
# build-fuzz/fuzz/corpus/<target> (the repository's corpus is left alone: see README.md
# for merging the interesting inputs back). A crash stops the script, with the input in
# build-fuzz/fuzz/crash-*; replay it with build-fuzz/bin/baton-fuzz-<target> <file>.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build_dir=${BATON_FUZZ_BUILD_DIR:-$root/build-fuzz}
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(sse_scanner session_id routes config request_head)

command -v clang++ >/dev/null || { echo "run.sh: clang++ is missing: deploy/install-deps.sh --fuzz" >&2; exit 1; }
if [ ! -f "$build_dir/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DBATON_FUZZ=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
cmake --build "$build_dir" --target baton-fuzzers

work=$build_dir/fuzz
mkdir -p "$work"
for target in "${targets[@]}"; do
  corpus=$work/corpus/$target
  mkdir -p "$corpus"
  echo "== $target: ${seconds}s" >&2
  # -rss_limit_mb and -timeout: a slow or greedy input is a finding too. Crashes land in
  # $work as crash-*, timeout-*, oom-*.
  (cd "$work" && "$build_dir/bin/baton-fuzz-$target" "$corpus" "$root/tests/fuzz/corpus/$target" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1 \
    -artifact_prefix="$work/$target-")
done
