#!/usr/bin/env bash
# The fault harness (docs/RELIABILITY.md): real redis-server and baton-proxy processes, a
# checker engine, a TCP fault proxy, signals, Redis restarts and network namespaces.
#
#   tests/faults/run.sh                    self-test, then every scenario, short (as CI)
#   tests/faults/run.sh --long             every scenario, long versions (about 30 min)
#   tests/faults/run.sh [--long] NAME...   some scenarios; --help lists them
#   tests/faults/run.sh --json FILE ...    also write every figure to FILE
#   tests/faults/run.sh --keep ...         keep the logs of passing scenarios too
#
# Needs build/bin/baton-proxy (BATON_BIN_DIR to use another build), redis-server and
# node 20. redis-cut-netns needs root (network namespaces, veth); it skips otherwise.
# Exit status: 0 all held, 1 a scenario failed, 77 all of them skipped.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export BATON_BIN_DIR=${BATON_BIN_DIR:-$root/build/bin}

names=0
skip=0
for arg in "$@"; do
  if [ "$skip" = 1 ]; then skip=0; continue; fi
  case $arg in
    -h | --help) exec node "$here/run.mjs" --help ;;
    --json) skip=1 ;;
    -*) ;;
    *) names=1 ;;
  esac
done

if [ "$names" = 0 ]; then
  (cd "$here" && node --test harness.test.mjs >/dev/null) || { echo "FAIL: the harness self-test (node --test tests/faults/harness.test.mjs)"; exit 1; }
  echo "harness self-test: ok"
  set -- "$@" all
fi
exec node "$here/run.mjs" "$@"
