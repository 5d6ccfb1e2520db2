#!/usr/bin/env bash
# The demo's scenario as a test: two engine replicas behind a round-robin balancer lose
# updates of a session when requests reach them directly (this proves the scenario can
# fail), and lose none through a baton beside each.
#
#   tests/e2e/demo_test.sh BUILD_DIR
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export BATON_BUILD_DIR=${1:?usage: demo_test.sh BUILD_DIR} BATON_SKIP_BUILD=1 NO_COLOR=1

output=$("$root/deploy/local/demo.sh" 2>&1) || { printf '%s\n' "$output"; echo "FAIL: the demo exited with an error"; exit 1; }
without=$(sed -n 's/^lost updates without baton: *\([0-9]*\)$/\1/p' <<<"$output")
with=$(sed -n 's/^lost updates with baton: *\([0-9]*\)$/\1/p' <<<"$output")

failed=0
if [ -z "$without" ] || [ "$without" -eq 0 ]; then
  echo "FAIL: without baton the scenario lost no update (${without:-no figure}): it cannot show a failure"
  failed=1
fi
if [ -z "$with" ] || [ "$with" -ne 0 ]; then
  echo "FAIL: with baton ${with:-an unknown number of} updates were lost"
  failed=1
fi
if [ "$failed" -ne 0 ]; then printf '%s\n' "$output"; exit 1; fi
echo "lost updates: $without without baton, $with with baton"
