#!/usr/bin/env bash
# The demo: two replicas of a web app that keeps per-session state, behind a round-robin
# balancer, first as they are, then with baton-proxy beside each replica. The same burst
# of concurrent requests is sent both times; the demo counts the updates that were lost.
#
#   deploy/local/demo.sh          run the demo, then stop
#   deploy/local/demo.sh --stay   leave everything running until Ctrl-C
#
# What runs, all on free loopback ports, with logs in a temporary directory:
#   redis-server                the state of the sessions, and baton's leases
#   engine-1, engine-2          the demo engine (deploy/demo-engine), two replicas
#   baton-1, baton-2            baton-proxy beside each replica (deploy/local/baton-replica.yaml)
#   nginx                       the round-robin balancer, with two front doors:
#                               one to the engines directly, one to the batons
#
# Runs from a fresh clone on Debian 12 (as root, or with sudo available): it installs
# and builds what it needs first, and stops everything it started when it exits.
#
# Environment: BATON_BUILD_DIR (default build/), BATON_SKIP_BUILD=1 to use the binary
# already built there, DEMO_SESSIONS (default 4) and DEMO_REQUESTS (requests per
# session, default 8), NO_COLOR to turn colours off.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=SCRIPTDIR/../lib/servers.sh
source "$root/deploy/lib/servers.sh"
build_dir=${BATON_BUILD_DIR:-$root/build}
engine_dir=$root/deploy/demo-engine
config=$root/deploy/local/baton-replica.yaml
sessions=${DEMO_SESSIONS:-4}
requests=${DEMO_REQUESTS:-8}
stay=0
work=""
pids=()

usage() {
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
}

setup_colours() {
  bold="" dim="" green="" yellow="" red="" reset=""
  if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
    bold=$'\e[1m' dim=$'\e[2m' green=$'\e[32m' yellow=$'\e[33m' red=$'\e[31m' reset=$'\e[0m'
  fi
}

title() { printf '\n%s== %s ==%s\n\n' "$bold" "$*" "$reset"; }
say() { printf '%s\n' "$*"; }
note() { printf '%s-> %s%s\n' "$green" "$*" "$reset"; }
warn() { printf '%s-> %s%s\n' "$red" "$*" "$reset"; }
show_command() { printf '%s$ %s%s\n' "$dim" "$*" "$reset"; }
die() { printf '%sdemo: %s%s\n' "$red" "$*" "$reset" >&2; exit 1; }

check_tools() {
  local tool missing=()
  for tool in redis-server redis-cli nginx node npm curl python3; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  [ "${#missing[@]}" = 0 ] || die "missing ${missing[*]}: run deploy/install-deps.sh (or deploy/build.sh)"
}

build_baton() {
  if [ "${BATON_SKIP_BUILD:-0}" = 1 ]; then return; fi
  say "Building baton into $build_dir (the first build takes a few minutes)..."
  "$root/deploy/build.sh"
}

install_engine() {
  say "Installing the demo engine's npm packages..."
  (cd "$engine_dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
}

# Starts a process in the background with its output in $work/$1.log; sets last_pid.
start() {
  local name=$1; shift
  "$@" >"$work/$name.log" 2>&1 &
  last_pid=$!
  pids+=("$last_pid")
}

# Waits until $url answers 2xx, or fails with the log of process $pid if it died first.
wait_for() {
  local name=$1 pid=$2 url=$3 log=$4 tries=150
  until curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null; then
      cat "$log" >&2
      die "$name exited before answering on $url (its log is above)"
    fi
    tries=$((tries - 1))
    [ "$tries" -gt 0 ] || die "$name did not answer on $url within 15 s (log: $log)"
    sleep 0.1
  done
}

wait_for_redis() {
  local tries=100
  until redis-cli -p "$redis_port" ping >/dev/null 2>&1; do
    kill -0 "$redis_pid" 2>/dev/null || { cat "$work/redis.log" >&2; die "redis-server exited"; }
    tries=$((tries - 1))
    [ "$tries" -gt 0 ] || die "redis-server did not answer within 10 s (log: $work/redis.log)"
    sleep 0.1
  done
}

write_nginx_config() {
  local user_line=""
  [ "$(id -u)" = 0 ] && user_line="user root;"
  mkdir -p "$work/nginx"
  cat >"$work/nginx.conf" <<NGINX
$user_line
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  proxy_http_version 1.1;
  proxy_set_header Connection "";
  proxy_buffering off;
  proxy_read_timeout 60s;
  # Round robin (nginx's default) over the engines, and over the batons.
  upstream engines { server 127.0.0.1:$engine1_port; server 127.0.0.1:$engine2_port; keepalive 16; }
  upstream batons  { server 127.0.0.1:$baton1_port;  server 127.0.0.1:$baton2_port;  keepalive 16; }
  server { listen 127.0.0.1:$lb_engines_port; location / { proxy_pass http://engines; } }
  server { listen 127.0.0.1:$lb_batons_port;  location / { proxy_pass http://batons; } }
}
NGINX
}

start_everything() {
  start redis redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work"
  redis_pid=$last_pid
  wait_for_redis

  local i engine_port baton_port admin_port
  for i in 1 2; do
    eval "engine_port=\$engine${i}_port baton_port=\$baton${i}_port admin_port=\$admin${i}_port"
    start "engine-$i" env PORT="$engine_port" INSTANCE="engine-$i" \
      REDIS_URL="redis://127.0.0.1:$redis_port" node "$engine_dir/server.js"
    wait_for "engine-$i" "$last_pid" "http://127.0.0.1:$engine_port/healthz" "$work/engine-$i.log"
    start "baton-$i" env DEMO_BATON_NAME="baton-$i" DEMO_PROXY_PORT="$baton_port" \
      DEMO_ENGINE_PORT="$engine_port" DEMO_ADMIN_PORT="$admin_port" DEMO_REDIS_PORT="$redis_port" \
      "$build_dir/bin/baton-proxy" --config "$config"
    wait_for "baton-$i" "$last_pid" "http://127.0.0.1:$baton_port/healthz" "$work/baton-$i.log"
  done

  write_nginx_config
  start nginx nginx -e "$work/nginx.log" -p "$work/nginx" -c "$work/nginx.conf" -g 'daemon off;'
  wait_for nginx "$last_pid" "http://127.0.0.1:$lb_engines_port/healthz" "$work/nginx.log"
  wait_for nginx "$last_pid" "http://127.0.0.1:$lb_batons_port/healthz" "$work/nginx.log"
}

describe_setup() {
  title "The setup"
  say "redis            127.0.0.1:$redis_port   session state (demo:session:*) and baton's leases (baton:*)"
  say "engine-1         127.0.0.1:$engine1_port   the demo engine, replica 1"
  say "engine-2         127.0.0.1:$engine2_port   the demo engine, replica 2"
  say "baton-1          127.0.0.1:$baton1_port   baton-proxy in front of engine-1"
  say "baton-2          127.0.0.1:$baton2_port   baton-proxy in front of engine-2"
  say "nginx (run a)    127.0.0.1:$lb_engines_port   round robin -> engine-1, engine-2"
  say "nginx (run b)    127.0.0.1:$lb_batons_port   round robin -> baton-1, baton-2"
  say ""
  say "Each engine keeps a copy of every session's state in memory in front of Redis, and"
  say "updates it by read, think, write back. A lock inside each process orders the requests"
  say "of a session on that replica, but nothing orders them across the two replicas."
}

# The sum of field $1 of /api/stats over both engines.
engine_stat() {
  local total=0 port value
  for port in "$engine1_port" "$engine2_port"; do
    value=$(curl -fsS "http://127.0.0.1:$port/api/stats" |
      python3 -c "import json,sys; print(json.load(sys.stdin).get('$1', 0))")
    total=$((total + value))
  done
  echo "$total"
}

stored_counter() {  # stored_counter SESSION
  curl -fsS "http://127.0.0.1:$engine1_port/api/state?session=$1" |
    python3 -c "import json,sys; print(json.load(sys.stdin)['counter'])"
}

# One request of the scenario; writes its HTTP status (or "cut" for a stream without its
# done event) to $out.code.
one_request() {
  local port=$1 session=$2 n=$3 out=$4 code
  if [ $((n % 2)) = 1 ]; then
    code=$(curl -sS -o "$out.body" -w '%{http_code}' --max-time 30 -H "X-Session-Id: $session" \
      -H 'Content-Type: application/json' -d "{\"answer\":\"answer $n\"}" \
      "http://127.0.0.1:$port/api/answer" 2>>"$out.err") || code=${code:-000}
  else
    code=$(curl -sS -N -o "$out.body" -w '%{http_code}' --max-time 30 -X POST \
      -H "X-Session-Id: $session" "http://127.0.0.1:$port/stream" 2>>"$out.err") || code=${code:-000}
    if [ "$code" = 200 ] && ! grep -q '^event: done' "$out.body"; then code="cut"; fi
  fi
  echo "$code" >"$out.code"
}

show_leases() {
  title "Mid-run: the leases baton holds in Redis"
  say "One key per session being served (a hash: the baton holding it, the route, the fence)."
  show_command "redis-cli --scan --pattern 'baton:*:lease'"
  local keys key fields
  keys=$(redis-cli -p "$redis_port" --scan --pattern 'baton:*:lease' | sort)
  if [ -z "$keys" ]; then
    say "(none held at this instant)"
  fi
  for key in $keys; do
    mapfile -t fields < <(redis-cli -p "$redis_port" hmget "$key" instance route fence 2>/dev/null)
    printf '%s%-18s%s held by %-8s for %-12s fence %s\n' "$yellow" "$key" "$reset" \
      "${fields[0]:-?}" "${fields[1]:-?}" "${fields[2]:-?}"
  done
}

# run_scenario LABEL BALANCER_PORT SESSION_PREFIX SHOW_LEASES
run_scenario() {
  local port=$2 prefix=$3 show=$4 dir="$work/$3" k n jobs=()
  local overlaps_before overlaps_after sent=0 ok=0 busy=0 failed=0 stored=0 counter code
  mkdir -p "$dir"
  overlaps_before=$(engine_stat overlaps)
  say "$sessions sessions x $requests concurrent requests each, through nginx on port $port:"
  say "odd requests POST /api/answer (JSON), even ones POST /stream (4 tokens, then 'done')."
  show_command "curl -H 'X-Session-Id: $prefix-1' -d '{\"answer\":\"answer 1\"}' http://127.0.0.1:$port/api/answer &   # ... x$((sessions * requests))"
  for ((k = 1; k <= sessions; k++)); do
    for ((n = 1; n <= requests; n++)); do
      one_request "$port" "$prefix-$k" "$n" "$dir/$k-$n" &
      jobs+=("$!")
    done
  done
  if [ "$show" = 1 ]; then
    sleep 0.3
    show_leases
    say ""
  fi
  wait "${jobs[@]}" || true
  overlaps_after=$(engine_stat overlaps)

  say ""
  printf '%s%-10s %5s %5s %5s %7s %9s %5s%s\n' "$bold" session sent ok 409 failed "counter" lost "$reset"
  local total_lost=0
  for ((k = 1; k <= sessions; k++)); do
    local s_ok=0 s_busy=0 s_failed=0
    for ((n = 1; n <= requests; n++)); do
      code=$(cat "$dir/$k-$n.code" 2>/dev/null || echo 000)
      case $code in
        200) s_ok=$((s_ok + 1)) ;;
        409) s_busy=$((s_busy + 1)) ;;
        *) s_failed=$((s_failed + 1)) ;;
      esac
    done
    counter=$(stored_counter "$prefix-$k")
    local lost=$((s_ok - counter))
    printf '%-10s %5d %5d %5d %7d %4d / %-3d %5d\n' "$prefix-$k" "$requests" "$s_ok" "$s_busy" \
      "$s_failed" "$counter" "$s_ok" "$lost"
    sent=$((sent + requests)) ok=$((ok + s_ok)) busy=$((busy + s_busy)) failed=$((failed + s_failed))
    stored=$((stored + counter)) total_lost=$((total_lost + lost))
  done
  say ""
  say "requests sent:        $sent ($ok answered 200, $busy refused 409, $failed failed)"
  say "counter stored:       $stored, expected $ok (one per 200)  ->  lost updates: $total_lost"
  say "overlapping requests: $((overlaps_after - overlaps_before)) (requests of a session that reached a replica while"
  say "                      another of the same session was running there)"
  result_lost=$total_lost result_busy=$busy result_failed=$failed
  result_overlaps=$((overlaps_after - overlaps_before))
}

run_without_baton() {
  title "Run a: nginx -> engines directly"
  run_scenario "without baton" "$lb_engines_port" a 0
  say ""
  if [ "$result_lost" -gt 0 ]; then
    warn "Verdict: $result_lost updates lost. Each replica read its own stale copy, or both read the"
    warn "same state at once, and the last write won. Nothing failed: the answers just vanished."
  else
    note "Verdict: no update lost this time (the race is timing-dependent; run the demo again)."
  fi
  lost_a=$result_lost
}

run_with_baton() {
  title "Run b: nginx -> batons -> engines"
  say "Same engines, same code, same balancer. Each baton takes the session's lease in Redis"
  say "before forwarding, holds it until the JSON answer is complete or the stream's 'done'"
  say "event, and tells the engine 'Cache-Control: no-cache' so that it reloads from Redis."
  say ""
  run_scenario "with baton" "$lb_batons_port" b 1
  say ""
  if [ "$result_lost" = 0 ] && [ "$result_failed" = 0 ] && [ "$result_overlaps" = 0 ]; then
    note "Verdict: no update lost and no overlapping request: one request of a session at a time,"
    note "across both replicas, each starting from the state the previous one wrote."
  else
    warn "Verdict: $result_lost lost, $result_failed failed, $result_overlaps overlapping. This should"
    warn "not happen with baton: see the logs in $work."
  fi
  [ "$result_busy" = 0 ] || say "($result_busy requests waited longer than lease.wait_timeout and got 409 + Retry-After.)"
  lost_b=$result_lost
}

summary() {
  title "Summary"
  say "lost updates without baton: $lost_a"
  say "lost updates with baton:    $lost_b"
}

stay_until_interrupted() {
  title "Running"
  say "nginx -> engines: http://127.0.0.1:$lb_engines_port    nginx -> batons: http://127.0.0.1:$lb_batons_port"
  say "try: curl -H 'X-Session-Id: me' -d '{\"answer\":\"hi\"}' -H 'Content-Type: application/json' http://127.0.0.1:$lb_batons_port/api/answer"
  say "     curl 'http://127.0.0.1:$lb_batons_port/api/state?session=me'"
  say "logs: $work/*.log"
  say "Press Ctrl-C to stop."
  wait "$redis_pid" || true
}

main() {
  case "${1:-}" in
    "") ;;
    --stay) stay=1 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
  setup_colours
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM

  build_baton
  check_tools
  [ -x "$build_dir/bin/baton-proxy" ] || die "no $build_dir/bin/baton-proxy; run deploy/build.sh"
  install_engine

  work=$(mktemp -d "${TMPDIR:-/tmp}/baton-demo.XXXXXX")
  chmod 755 "$work"
  # shellcheck disable=SC2034  # admin1_port and admin2_port are read through eval
  { read -r redis_port; read -r engine1_port; read -r engine2_port; read -r baton1_port
    read -r baton2_port; read -r admin1_port; read -r admin2_port; read -r lb_engines_port
    read -r lb_batons_port; } < <(free_ports 9)

  start_everything
  describe_setup
  run_without_baton
  run_with_baton
  summary
  if [ "$stay" = 1 ]; then stay_until_interrupted; fi
  title "Done"
  say "Stopping nginx, the batons, the engines and redis. Run with --stay to keep them running."
}

main "$@"
