#!/usr/bin/env bash
# Lease benchmark: the cost of an uncontended lease and the hand-off latency between two
# processes, next to the Redis round trip of the same machine and run.
#
#   tests/bench/lease.sh            # BENCH_SECONDS (5), BENCH_HANDOFFS (2000)
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build_dir=${BATON_BUILD_DIR:-$root/build}
bench_bin=$build_dir/bin/baton-lease-bench
seconds=${BENCH_SECONDS:-5}
handoffs=${BENCH_HANDOFFS:-2000}

[ -x "$bench_bin" ] || { echo "lease.sh: no $bench_bin; build first (deploy/build.sh)" >&2; exit 1; }

# shellcheck source=SCRIPTDIR/../../deploy/lib/servers.sh
source "$root/deploy/lib/servers.sh"

pids=()
work=$(mktemp -d)
trap cleanup EXIT
port=$(free_ports 1)
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" \
  --logfile "$work/redis.log" & pids+=($!)
until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.05; done

echo "== Redis round trip (redis-benchmark -t ping, one connection) =="
redis-benchmark -p "$port" -t ping_mbulk -n 50000 -c 1 --csv 2>/dev/null | tr '\r' '\n' |
  grep '^"PING_MBULK"' | tr -d '"' |
  awk -F, '{ printf "PING: %.0f requests/s, p50 %.0f us, p99 %.0f us\n", $2, $5*1000, $7*1000 }'

echo "== Leases (baton-lease-bench) =="
"$bench_bin" --redis "redis://127.0.0.1:$port" --seconds "$seconds" --handoffs "$handoffs"

echo "== Time inside Redis per script call (INFO commandstats) =="
redis-cli -p "$port" info commandstats | tr -d '\r' |
  awk -F'[:,=]' '/^cmdstat_evalsha/ { printf "EVALSHA: %s calls, %s us each inside Redis\n", $3, $7 }'
