#!/usr/bin/env bash
# The whole test suite from a fresh clone: installs the Debian packages and the npm
# packages (the demo engine's and the browser test's), builds with warnings as errors,
# and runs every ctest label except the long ones. Extra arguments go to ctest (-L unit).
#
# Then the unit and integration suites once more under AddressSanitizer and UBSan, in a
# build of their own (BATON_ASAN_BUILD_DIR, default build-asan/; the integration tests
# run its sanitized baton-proxy and baton-lockd). BATON_SKIP_ASAN=1 skips that stage.
# docs/testing.md says more.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${BATON_BUILD_DIR:-$root/build}
asan_build_dir=${BATON_ASAN_BUILD_DIR:-$root/build-asan}

"$root/deploy/build.sh" -DBATON_WERROR=ON
for package in deploy/demo-engine tests/browser tests/deploy; do
  (cd "$root/$package" && npm ci --no-audit --no-fund --loglevel=error)
done
(cd "$build_dir" && ctest --output-on-failure --parallel "$(nproc)" --label-exclude long "$@")

if [ "${BATON_SKIP_ASAN:-0}" = 1 ]; then
  echo "run.sh: BATON_SKIP_ASAN=1: no sanitizer run" >&2
  exit 0
fi

# A Debug build with line tables only (-g1): on two cores it compiles in well under half
# the time of -O1 -g (the coroutine-heavy files most of all), ASan reports still name
# file and line, and Boost's assertions (Beast checks how its streams are used) are on.
started=$SECONDS
BATON_BUILD_TYPE=Debug BATON_BUILD_DIR=$asan_build_dir "$root/deploy/build.sh" -DBATON_WERROR=ON \
  -DBATON_SANITIZE=address,undefined -DCMAKE_CXX_FLAGS_DEBUG=-g1

# ASan and LeakSanitizer write their reports to files of their own here, one per process
# (tests, and the baton-proxy, baton-lockd and contender processes they start, whose
# output the fixtures keep in temporary directories), so no report is lost with a log.
# UBSan writes to the process's stderr (g++'s libubsan ignores log_path next to ASan):
# ctest shows a test program's, and a fixture prints its process's log when a test fails.
# - halt_on_error, -fno-sanitize-recover (cmake/Sanitizers.cmake): the first report ends
#   the process with a failure;
# - suppressions: cmake/ubsan-suppressions.txt (a libstdc++ defect);
# - detect_leaks: LeakSanitizer at every normal exit (processes killed by the fixtures
#   are not checked);
# - detect_stack_use_after_return: locals used after their function returned (off by
#   default). With g++ 12 coroutines it may report false positives; none so far here
#   (a coroutine's frame is on the heap, not on the fake stack). Set 0 if one shows up.
reports=$asan_build_dir/sanitizer-reports
rm -rf "$reports" && mkdir -p "$reports"
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:log_path=$reports/asan:log_exe_name=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$root/cmake/ubsan-suppressions.txt"
# Left out: the memory bound of the slow-client test (ASan's redzones and shadow more than
# double what a connection costs; the test still runs in the build above) and the
# Dockerfile check (it asks that the image installs every library the binaries load,
# which for these includes libasan).
status=0
(cd "$asan_build_dir" && ctest --output-on-failure --parallel "$(nproc)" \
  --label-regex 'unit|integration' --exclude-regex 'memory bounded|^deploy: dockerfile$' "$@") ||
  status=$?

if compgen -G "$reports/*" >/dev/null; then
  for report in "$reports"/*; do
    echo "=== sanitizer report ${report#"$root"/} ===" >&2
    cat "$report" >&2
  done
  status=1
fi
echo "run.sh: sanitizer stage (build and tests) took $((SECONDS - started))s" >&2
exit "$status"
