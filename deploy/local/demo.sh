#!/usr/bin/env bash
# The demo: the demo engine behind baton-proxy on this machine, one JSON request and one
# Server-Sent Events stream sent through baton, shown on the terminal. Runs from a fresh
# clone on Debian 12 (as root, or with sudo available): it installs and builds what it
# needs first, and stops everything it started when it exits.
#
#   deploy/local/demo.sh          run the demo, then stop
#   deploy/local/demo.sh --stay   leave baton and the engine running until Ctrl-C
#
# Environment: BATON_BUILD_DIR (default build/), BATON_SKIP_BUILD=1 to use the binary
# already built there, NO_COLOR to turn colours off.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build_dir=${BATON_BUILD_DIR:-$root/build}
engine_dir=$root/deploy/demo-engine
config=$root/deploy/local/baton.yaml
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
show_command() { printf '%s$ %s%s\n' "$dim" "$*" "$reset"; }
die() { printf '%sdemo: %s%s\n' "$red" "$*" "$reset" >&2; exit 1; }

cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "$work" ]; then rm -rf "$work"; fi
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

# Prints $1 distinct free loopback ports, one per line. The sockets are all bound at once
# so that the ports differ, then released for the servers to take.
free_ports() {
  if command -v python3 >/dev/null 2>&1; then
    python3 - "$1" <<'EOF'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print("\n".join(str(s.getsockname()[1]) for s in socks))
EOF
  else
    probe_free_ports "$1"
  fi
}

# Without python3: random ports above the usual ephemeral range start that nobody answers on.
probe_free_ports() {
  local wanted=$1 port picked=" "
  while [ "$wanted" -gt 0 ]; do
    port=$((20000 + RANDOM % 12000))
    case $picked in *" $port "*) continue ;; esac
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      picked+="$port "
      echo "$port"
      wanted=$((wanted - 1))
    fi
  done
}

start_engine() {
  PORT=$engine_port INSTANCE=demo-engine node "$engine_dir/server.js" >"$work/engine.log" 2>&1 &
  pids+=("$!")
  engine_pid=$!
}

start_baton() {
  DEMO_PROXY_PORT=$proxy_port DEMO_ENGINE_PORT=$engine_port DEMO_ADMIN_PORT=$admin_port \
    "$build_dir/bin/baton-proxy" --config "$config" >"$work/baton.log" 2>&1 &
  pids+=("$!")
  baton_pid=$!
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

# Prints curl's header block, without carriage returns, the lines named in $2 highlighted.
print_headers() {
  local file=$1 highlight=$2 line
  while IFS= read -r line; do
    line=${line%$'\r'}
    [ -n "$line" ] || continue
    if [[ ${line,,} =~ ^($highlight): ]]; then
      printf '%s%s%s\n' "$yellow" "$line" "$reset"
    else
      printf '%s\n' "$line"
    fi
  done <"$file"
}

header_value() {  # header_value FILE NAME
  sed -n "s/^$2: *//Ip" "$1" | tr -d '\r' | tail -n 1
}

json_field() {  # json_field FILE KEY...: the value at that path, or nothing
  python3 - "$@" <<'EOF'
import json, sys
value = json.load(open(sys.argv[1]))
for key in sys.argv[2:]:
    value = value.get(key, "") if isinstance(value, dict) else ""
print(value)
EOF
}

# The lines of a log that mention $2, if any.
show_log() {
  local label=$1 pattern=$2 file=$3 lines
  lines=$(grep -F -- "$pattern" "$file") || return 0
  say "${bold}$label logged:${reset}"
  printf '%s\n' "$lines" | sed 's/^/  /'
}

demo_json() {
  local url="http://127.0.0.1:$proxy_port/api/echo" body='{"hello":"baton","step":1}'
  title "1. A JSON request through baton"
  say "baton listens on 127.0.0.1:$proxy_port and forwards to the engine on 127.0.0.1:$engine_port."
  say "The request carries no X-Request-Id: baton gives it one."
  say ""
  show_command "curl -sS -D - -H 'Content-Type: application/json' -d '$body' $url"
  curl -sS -D "$work/echo.headers" -o "$work/echo.body" \
    -H 'Content-Type: application/json' -d "$body" "$url"
  print_headers "$work/echo.headers" 'x-request-id|cache-control'
  say ""
  python3 -m json.tool "$work/echo.body"
  say ""
  explain_json
}

explain_json() {
  local sent_back received
  sent_back=$(header_value "$work/echo.headers" X-Request-Id)
  received=$(json_field "$work/echo.body" headers x-request-id)
  if [ -n "$sent_back" ] && [ "$sent_back" = "$received" ]; then
    note "X-Request-Id $sent_back: made by baton, seen by the engine, returned to you."
  else
    note "X-Request-Id returned: '${sent_back:-none}', seen by the engine: '${received:-none}'."
  fi
  note "The engine saw X-Forwarded-For: $(json_field "$work/echo.body" headers x-forwarded-for)," \
    "X-Forwarded-Proto: $(json_field "$work/echo.body" headers x-forwarded-proto)," \
    "X-Forwarded-Host: $(json_field "$work/echo.body" headers x-forwarded-host)."
  say ""
  show_log "The engine" "${sent_back:-/api/echo}" "$work/engine.log"
  show_log "baton" "${sent_back:-/api/echo}" "$work/baton.log"
}

# Prefixes each line read with the time since $1 (microseconds since the epoch).
stamp_lines() {
  local start=$1 line elapsed
  while IFS= read -r line; do
    line=${line%$'\r'}
    if [ -z "$line" ]; then say ""; continue; fi
    elapsed=$(( (${EPOCHREALTIME/./} - start) / 1000 ))
    printf '%s%5d ms%s  %s\n' "$dim" "$elapsed" "$reset" "$line"
  done
}

demo_stream() {
  local url="http://127.0.0.1:$proxy_port/stream?tokens=6&delay=400"
  title "2. A Server-Sent Events stream through baton"
  say "The engine sends 6 'token' events 400 ms apart, then a 'done' event. baton relays"
  say "each event the moment it arrives; the left column is the time since the request."
  say ""
  show_command "curl -sS -N -D - -X POST '$url'"
  curl -sS -N -D - -X POST "$url" | stamp_lines "${EPOCHREALTIME/./}"
  note "Each event reached curl while the engine was still streaming: baton does not buffer streams."
}

stay_until_interrupted() {
  title "Running"
  say "baton:      http://127.0.0.1:$proxy_port   (try /api/echo and /stream)"
  say "the engine: http://127.0.0.1:$engine_port"
  say "logs:       $work/baton.log and $work/engine.log"
  say "Press Ctrl-C to stop."
  wait "$baton_pid" || true
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
  [ -x "$build_dir/bin/baton-proxy" ] || die "no $build_dir/bin/baton-proxy; run deploy/build.sh"
  install_engine

  work=$(mktemp -d "${TMPDIR:-/tmp}/baton-demo.XXXXXX")
  { read -r proxy_port; read -r engine_port; read -r admin_port; } < <(free_ports 3)

  start_engine
  wait_for "the demo engine" "$engine_pid" "http://127.0.0.1:$engine_port/healthz" "$work/engine.log"
  start_baton
  wait_for "baton-proxy" "$baton_pid" "http://127.0.0.1:$proxy_port/healthz" "$work/baton.log"

  demo_json
  demo_stream
  if [ "$stay" = 1 ]; then stay_until_interrupted; fi
  title "Done"
  say "Stopping baton and the engine. Run with --stay to keep them running."
}

main "$@"
