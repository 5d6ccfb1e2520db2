#!/usr/bin/env bash
# Leased against pass-through requests through one baton-proxy, in the same run: the
# same upstream (an nginx answering a small fixed body), one route with a session lease
# in Redis and one without. wrk varies the session id of every leased request, so each
# takes an uncontended lease. Prints requests/s and latency of both, the ratio, the CPU
# time baton and Redis spent per request (from /proc), the whole machine's CPU time per
# request and idle share (from /proc/stat: what the ratio is made of on a shared
# machine), and the Redis round trip of the run.
#
#   tests/bench/leased.sh
#
# Environment (default):
#   BENCH_DURATION (10s)     length of each wrk run
#   BENCH_CONNECTIONS (50)   wrk -c
#   BENCH_LEASE_BACKEND      redis (default), or memory: the same leased route with the
#                            in-process store, which shows what baton's own lease
#                            handling costs, without Redis
#   BENCH_PIN (0)            1: baton on CPU 1, wrk, nginx and Redis on CPU 0
#   BENCH_INSTRUCTIONS       baton or redis: that process runs under valgrind's callgrind
#                            and the script prints the instructions it executed per
#                            request instead (user space only; unlike time, the same on
#                            a busy machine, so a before/after comparison needs one run
#                            of each). One process at a time: a slowed peer would change
#                            how the other batches its work.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build_dir=${BATON_BUILD_DIR:-$root/build}
baton_bin=$build_dir/bin/baton-proxy
duration=${BENCH_DURATION:-10s}
connections=${BENCH_CONNECTIONS:-50}
backend=${BENCH_LEASE_BACKEND:-redis}
pin=${BENCH_PIN:-0}
counted_process=${BENCH_INSTRUCTIONS:-}
hz=$(getconf CLK_TCK)

[ -x "$baton_bin" ] || { echo "leased.sh: no $baton_bin; build first (deploy/build.sh)" >&2; exit 1; }

# shellcheck source=SCRIPTDIR/../../deploy/lib/servers.sh
source "$root/deploy/lib/servers.sh"

# `on N command...` runs the command on CPU N with BENCH_PIN=1, as it is otherwise.
on() {
  local cpu=$1
  shift
  if [ "$pin" = 1 ]; then taskset -c "$cpu" "$@"; else "$@"; fi
}

# `serve_on N command...` starts a server in the background, on CPU N with BENCH_PIN=1,
# and adds its pid to `pids` (taskset execs the command, so the pid is the server's).
serve_on() {
  local cpu=$1
  shift
  if [ "$pin" = 1 ]; then taskset -c "$cpu" "$@" & else "$@" & fi
  pids+=($!)
}

pids=()
work=$(mktemp -d)
trap cleanup EXIT
{ read -r redis_port; read -r upstream_port; read -r baton_port; read -r admin_port; } < <(free_ports 4)
case "$counted_process" in
  '' | baton | redis) ;;
  *) echo "leased.sh: BENCH_INSTRUCTIONS is baton or redis, not '$counted_process'" >&2; exit 2 ;;
esac

# `counted NAME command...` prints the command one word per line, under callgrind when
# NAME is BENCH_INSTRUCTIONS (its counts dumped to $work/counted.cg.<n>).
counted() {
  local name=$1
  shift
  if [ "$name" = "$counted_process" ]; then
    printf '%s\n' valgrind --tool=callgrind --callgrind-out-file="$work/counted.cg" --log-file="$work/valgrind.log"
  fi
  printf '%s\n' "$@"
}

mapfile -t redis_command < <(counted redis redis-server --port "$redis_port" --bind 127.0.0.1 --save '' \
  --appendonly no --dir "$work" --logfile "$work/redis.log")
serve_on 0 "${redis_command[@]}"

cat > "$work/upstream.conf" <<CONF
daemon off; worker_processes 1; pid $work/nginx.pid; error_log $work/nginx.err;
events {}
http {
  access_log off; keepalive_requests 1000000;
  client_body_temp_path $work; proxy_temp_path $work; fastcgi_temp_path $work;
  uwsgi_temp_path $work; scgi_temp_path $work;
  server { listen 127.0.0.1:$upstream_port; location / { return 200 "hello world\n"; } }
}
CONF
serve_on 0 /usr/sbin/nginx -c "$work/upstream.conf"

cat > "$work/baton.yaml" <<CONF
instance_id: bench
listen: 127.0.0.1:$baton_port
threads: 1
upstream: { url: http://127.0.0.1:$upstream_port }
admin: { listen: 127.0.0.1:$admin_port }
lease: { backend: $backend }
redis: { url: redis://127.0.0.1:$redis_port }
session: { sources: [ { header: X-Session-Id } ] }
routes:
  - match: { prefix: /leased }
    lease: required
  - match: { prefix: / }
    lease: none
logging: { level: warn, access_log: false }
CONF
mapfile -t baton_command < <(counted baton "$baton_bin" --config "$work/baton.yaml")
serve_on 1 "${baton_command[@]}" 2> "$work/baton.log"
redis_pid=${pids[0]} baton_pid=${pids[2]}

cat > "$work/sessions.lua" <<'LUA'
-- A new session for every request: each leased request takes an uncontended lease.
local count = 0
request = function()
  count = count + 1
  return wrk.format("GET", "/leased", { ["X-Session-Id"] = "bench-" .. count })
end
LUA

for port in "$redis_port" "$upstream_port" "$baton_port"; do
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do sleep 0.05; done
done

# Prints the instructions per request of one wrk run, counted from a warmed-up start:
# callgrind_control zeroes the counts, then asks for the next dump (counted.cg.<n>),
# which is complete once it ends with its totals.
count_instructions() {
  local pid dump tries=0
  pid=$([ "$counted_process" = baton ] && echo "$baton_pid" || echo "$redis_pid")
  dump=$work/counted.cg.$(($(find "$work" -name 'counted.cg.*' | wc -l) + 1))
  on 0 wrk -t1 -c"$connections" -d2s "$@" > /dev/null
  callgrind_control -z "$pid" > /dev/null 2>&1
  on 0 wrk -t1 -c"$connections" -d"$duration" "$@" > "$work/wrk.out"
  callgrind_control -d "$pid" > /dev/null 2>&1
  until grep -qs '^totals:' "$dump"; do
    tries=$((tries + 1))
    [ "$tries" -le 300 ] || { echo "leased.sh: no complete callgrind dump $dump after 60 s" >&2; exit 1; }
    sleep 0.2
  done
  awk '/^ +[0-9]+ requests in/ { requests = $1 } /^totals:/ { count = $2 }
       END { printf "%.0f\n", count / requests }' "$work/wrk.out" "$dump"
}

if [ -n "$counted_process" ]; then
  plain=$(count_instructions "http://127.0.0.1:$baton_port/plain")
  leased=$(count_instructions -s "$work/sessions.lua" "http://127.0.0.1:$baton_port/leased")
  echo "lease backend: $backend; instructions $counted_process executed per request (user space, callgrind)"
  printf '%-14s %12s\n' pass-through "$plain" leased "$leased"
  if [ "$counted_process" = baton ]; then
    echo "pass-through/leased: $(awk -v a="$plain" -v b="$leased" 'BEGIN { printf "%.2f", a / b }')"
  fi
  exit 0
fi

# Prints "requests/s p50_us p99_us baton_us redis_us machine_us machine_idle_%", the CPU
# times per request.
run_wrk() {
  local baton_before redis_before busy_before idle_before busy_after idle_after
  baton_before=$(cpu_ticks "$baton_pid") redis_before=$(cpu_ticks "$redis_pid")
  read -r busy_before idle_before < <(machine_ticks)
  on 0 wrk -t1 -c"$connections" -d"$duration" --latency "$@" > "$work/wrk.out"
  read -r busy_after idle_after < <(machine_ticks)
  awk -v baton="$(($(cpu_ticks "$baton_pid") - baton_before))" -v redis="$(($(cpu_ticks "$redis_pid") - redis_before))" \
      -v busy="$((busy_after - busy_before))" -v idle="$((idle_after - idle_before))" -v hz="$hz" '
    /Requests\/sec/ { rps = $2 }
    /^ +[0-9]+ requests in/ { requests = $1 }
    /^ +50%/ { p50 = $2 } /^ +99%/ { p99 = $2 }
    function us(v) { if (v ~ /us$/) return v + 0; if (v ~ /ms$/) return v * 1000; return v * 1000000 }
    function per_request(ticks) { return ticks * 1e6 / hz / requests }
    END { printf "%.0f %.0f %.0f %.1f %.1f %.1f %.0f\n", rps, us(p50), us(p99), per_request(baton),
          per_request(redis), per_request(busy), 100 * idle / (busy + idle) }' \
    "$work/wrk.out"
}

read -r plain_rps plain_p50 plain_p99 plain_baton_us _ plain_machine_us plain_idle \
  < <(run_wrk "http://127.0.0.1:$baton_port/plain")
read -r leased_rps leased_p50 leased_p99 leased_baton_us leased_redis_us leased_machine_us leased_idle \
  < <(run_wrk -s "$work/sessions.lua" "http://127.0.0.1:$baton_port/leased")
ping=$(redis-benchmark -p "$redis_port" -t ping_mbulk -n 50000 -c 1 --csv 2>/dev/null | tr '\r' '\n' |
  grep '^"PING_MBULK"' | tr -d '"' | awk -F, '{ printf "%.0f", $5 * 1000 }')
read -r leases script_us < <(redis-cli -p "$redis_port" info commandstats | tr -d '\r' |
  awk -F'[:,=]' '/^cmdstat_evalsha/ { calls = $3; per_call = $7 } END { print calls + 0, per_call + 0 }')

echo "lease backend: $backend; pinned: $([ "$pin" = 1 ] && echo 'baton on CPU 1, the rest on CPU 0' || echo no)"
printf '%-14s %12s %10s %10s %16s %16s %18s %13s\n' route requests/s p50 p99 'baton CPU/req' 'Redis CPU/req' \
  'machine CPU/req' 'machine idle'
printf '%-14s %12s %8s us %7s us %13s us %16s %15s us %12s%%\n' pass-through "$plain_rps" "$plain_p50" "$plain_p99" \
  "$plain_baton_us" - "$plain_machine_us" "$plain_idle"
printf '%-14s %12s %8s us %7s us %13s us %13s us %15s us %12s%%\n' leased "$leased_rps" "$leased_p50" "$leased_p99" \
  "$leased_baton_us" "$leased_redis_us" "$leased_machine_us" "$leased_idle"
echo "leased/pass-through requests/s: $(awk -v a="$leased_rps" -v b="$plain_rps" 'BEGIN { printf "%.2f", a / b }')"
echo "baton CPU per request, pass-through/leased: $(awk -v a="$plain_baton_us" -v b="$leased_baton_us" 'BEGIN { printf "%.2f", a / b }')"
echo "p50 added by the lease: $((leased_p50 - plain_p50)) us; Redis PING p50 of this run: ${ping} us"
if [ "$backend" = redis ]; then
  echo "lease scripts run in Redis: $leases (acquire + release per leased request), ${script_us} us each"
fi
if grep -qiE 'error|critical' "$work/baton.log"; then echo "baton logged errors:"; cat "$work/baton.log"; fi
