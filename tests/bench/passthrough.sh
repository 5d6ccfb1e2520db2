#!/usr/bin/env bash
# Pass-through benchmark: baton-proxy against nginx proxy_pass, one worker each, in front
# of the same nginx upstream that answers a small fixed body, driven by wrk with keep-alive
# in one run. A direct-to-upstream run is the reference. Prints requests/s, p50/p99
# latency and the CPU time the server under test spent per request, and the baton/nginx
# ratios.
#
#   tests/bench/passthrough.sh
#
# Environment (default):
#   BENCH_DURATION (10s)    length of each measured wrk run
#   BENCH_WARMUP (2s)       unmeasured wrk run before each measured one; 0 to skip
#   BENCH_CONNECTIONS (50)  wrk -c
#   BENCH_THREADS (1)       wrk -t
#   BENCH_ROUNDS (1)        rounds of the three runs, interleaved; the median is reported
#   BENCH_PIN (1)           1: pin processes to CPUs as described below; 0: no pinning
#   BATON_BUILD_DIR (build) where bin/baton-proxy is
#
# CPUs: on a 2-core machine, with BENCH_PIN=1, the proxy under test (nginx or baton) gets
# CPU 1 to itself, while wrk and the upstream nginx (1 worker) share CPU 0. The proxy does
# the most work per request (two sockets, parsing both ways), so it is the one measured;
# unpinned, the scheduler moves the three busy processes around and the figures wander.
# When CPU 0 saturates first, requests/s of the two proxies converge on the direct figure;
# CPU time per request, read from /proc, still compares them.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=SCRIPTDIR/../../deploy/lib/servers.sh
source "$root/deploy/lib/servers.sh"
build_dir=${BATON_BUILD_DIR:-$root/build}
baton_bin=$build_dir/bin/baton-proxy
nginx_bin=${NGINX:-/usr/sbin/nginx}
duration=${BENCH_DURATION:-10s}
warmup=${BENCH_WARMUP:-2s}
connections=${BENCH_CONNECTIONS:-50}
wrk_threads=${BENCH_THREADS:-1}
rounds=${BENCH_ROUNDS:-1}
hz=$(getconf CLK_TCK)
pin=${BENCH_PIN:-1}
targets=(direct nginx baton)
work=""
pids=()
pinned=()
declare -A target_url target_pid

die() { printf 'passthrough: %s\n' "$*" >&2; exit 1; }
log() { printf '%s\n' "$*" >&2; }

check_tools() {
  [ -x "$nginx_bin" ] || die "no nginx at $nginx_bin (deploy/install-deps.sh installs nginx-light)"
  command -v wrk >/dev/null || die "no wrk (deploy/install-deps.sh installs it)"
  command -v curl >/dev/null || die "no curl"
  [ -x "$baton_bin" ] || die "no $baton_bin; build first (deploy/build.sh)"
  if [ "$pin" = 1 ] && { [ "$(nproc)" -lt 2 ] || ! command -v taskset >/dev/null; }; then
    log "passthrough: pinning needs 2 CPUs and taskset; running unpinned"
    pin=0
  fi
}

# Sets the array `pinned` to the command prefix that runs a command on CPU $1. A prefix,
# not a wrapper function, so that a server started in the background is the process
# whose id $! gives (taskset execs the command).
pin_to() {
  pinned=()
  if [ "$pin" = 1 ]; then pinned=(taskset -c "$1"); fi
}

# The http{} lines both nginx instances share. Temp paths stay inside the instance's own
# directory so that nothing needs /var/lib/nginx; keep-alive connections are never
# closed after a request count, as baton's are not.
nginx_common() {
  local dir=$1
  cat <<EOF
    access_log off;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    keepalive_requests 1000000;
EOF
}

nginx_head() {
  local dir=$1
  cat <<EOF
daemon off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
EOF
}

write_upstream_conf() {
  local dir=$1 port=$2
  nginx_head "$dir"
  cat <<EOF
http {
$(nginx_common "$dir")
    server {
        listen 127.0.0.1:$port;
        location / {
            default_type text/plain;
            return 200 "hello world\n";
        }
    }
}
EOF
}

write_proxy_conf() {
  local dir=$1 port=$2 upstream_port=$3
  nginx_head "$dir"
  cat <<EOF
http {
$(nginx_common "$dir")
    upstream backend {
        server 127.0.0.1:$upstream_port;
        keepalive 64;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$port;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            # The same header work baton does on every request.
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
            proxy_set_header X-Forwarded-Host \$host;
            proxy_set_header X-Request-Id \$request_id;
            add_header X-Request-Id \$request_id;
        }
    }
}
EOF
}

write_baton_conf() {
  local port=$1 upstream_port=$2 admin_port=$3
  cat <<EOF
instance_id: bench
listen: 127.0.0.1:$port
threads: 1
upstream: { url: http://127.0.0.1:$upstream_port }
admin: { listen: 127.0.0.1:$admin_port }
lease: { backend: memory }
logging: { level: warn, access_log: false }
EOF
}

start_nginx() {  # start_nginx NAME CPU WRITER ARGS...: writes the config, starts nginx
  local name=$1 cpu=$2 writer=$3
  shift 3
  local dir=$work/$name
  mkdir -p "$dir"
  "$writer" "$dir" "$@" >"$dir/nginx.conf"
  pin_to "$cpu"
  "${pinned[@]}" "$nginx_bin" -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" \
    >"$dir/stdout.log" 2>&1 &
  pids+=("$!")
  started=$!
}

start_baton() {  # start_baton CPU PORT UPSTREAM_PORT ADMIN_PORT
  local cpu=$1 dir=$work/baton
  mkdir -p "$dir"
  write_baton_conf "$2" "$3" "$4" >"$dir/baton.yaml"
  pin_to "$cpu"
  "${pinned[@]}" "$baton_bin" --config "$dir/baton.yaml" >"$dir/baton.log" 2>&1 &
  pids+=("$!")
  started=$!
}

# Waits until target $1 answers with the upstream's body, or fails after 10 s.
wait_for() {
  local target=$1 tries=100
  until [ "$(curl -sS --max-time 1 "${target_url[$target]}" 2>/dev/null)" = "hello world" ]; do
    tries=$((tries - 1))
    if [ "$tries" -le 0 ]; then
      tail -n 20 "$work"/*/*.log >&2 2>/dev/null || true
      die "$target does not answer 'hello world' on ${target_url[$target]}"
    fi
    sleep 0.1
  done
}

# Turns wrk --latency output into "requests/s p50_us p99_us errors requests seconds".
parse_wrk() {
  awk '
    function us(v) {
      if (v ~ /us$/) return v + 0
      if (v ~ /ms$/) return v * 1000
      if (v ~ /s$/) return v * 1000000
      return v + 0
    }
    /^ +50%/ { p50 = us($2) }
    /^ +99%/ { p99 = us($2) }
    /Non-2xx or 3xx responses:/ { errors += $NF }
    /Socket errors:/ { gsub(/,/, ""); errors += $4 + $6 + $8 + $10 }
    / requests in / { requests = $1; seconds = $4 + 0 }
    /^Requests\/sec:/ { rps = $2 }
    END { printf "%.1f %.0f %.0f %d %d %.2f\n", rps, p50, p99, errors, requests, seconds }'
}

run_wrk() {  # run_wrk URL DURATION: prints wrk's report
  pin_to 0
  "${pinned[@]}" wrk -t"$wrk_threads" -c"$connections" -d"$2" --latency "$1"
}

# Share of all CPUs busy over one second: other work on the machine skews the figures.
busy_percent() {
  local busy_before idle_before busy_after idle_after
  read -r busy_before idle_before < <(machine_ticks)
  sleep 1
  read -r busy_after idle_after < <(machine_ticks)
  awk -v busy="$((busy_after - busy_before))" -v idle="$((idle_after - idle_before))" 'BEGIN {
    printf "%d\n", (busy + idle > 0) ? 100 * busy / (busy + idle) : 0 }'
}

# CPU time (clock ticks) of all CPUs outside idle and I/O wait.
system_ticks() {
  local busy _
  read -r busy _ < <(machine_ticks)
  echo "$busy"
}

# CPU time (clock ticks) of the finished children of this shell, wrk among them, from
# the output of `times` in file $1. `times` itself must run in this shell, not in a
# command substitution, whose children are not this shell's.
children_ticks() {
  awk -v hz="$hz" '
    function seconds(field, parts) { split(field, parts, "m"); return parts[1] * 60 + parts[2] }
    NR == 2 { printf "%d\n", (seconds($1) + seconds($2)) * hz }' "$1"
}

all_servers_ticks() {
  local target sum=0
  for target in "${targets[@]}"; do sum=$((sum + $(cpu_ticks "${target_pid[$target]}"))); done
  echo "$sum"
}

# One warm-up and one measured run. Appends to TARGET.results the wrk figures, the CPU
# ticks of the server under test, and those of everything but wrk and the servers: other
# work on the machine, which makes the run unfair.
measure() {
  local target=$1 pid=${target_pid[$1]} url=${target_url[$1]}
  local server system ours wrk_cpu other result
  if [ "$warmup" != 0 ]; then run_wrk "$url" "$warmup" >/dev/null; fi
  server=$(cpu_ticks "$pid") system=$(system_ticks) ours=$(all_servers_ticks)
  times >"$work/times.before"
  run_wrk "$url" "$duration" >"$work/$target.wrk"
  times >"$work/times.after"
  server=$(($(cpu_ticks "$pid") - server))
  wrk_cpu=$(($(children_ticks "$work/times.after") - $(children_ticks "$work/times.before")))
  other=$(($(system_ticks) - system - ($(all_servers_ticks) - ours) - wrk_cpu))
  result="$(parse_wrk <"$work/$target.wrk") $server $((other > 0 ? other : 0))"
  echo "$result" >>"$work/$target.results"
  log "  $target: $result"
}

median_result() {  # the round with the median requests/s
  local file=$work/$1.results n
  n=$(wc -l <"$file")
  sort -n -k1,1 "$file" | sed -n "$(((n + 1) / 2))p"
}

describe_machine() {
  local cpu
  cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
  echo "machine:  $(nproc) CPUs, ${cpu:-unknown CPU}, Linux $(uname -r)"
  echo "commit:   $(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown)"
  echo "software: $("$nginx_bin" -v 2>&1 | sed 's/^nginx version: //'), $(wrk -v 2>&1 | head -n 1 | cut -d' ' -f1-2), $("$baton_bin" --version 2>&1 | head -n 1)"
  echo "load:     wrk -t$wrk_threads -c$connections -d$duration --latency (warm-up $warmup), $rounds round(s), median shown"
  echo "before:   CPUs ${busy_before}% busy with other work"
  if [ "$pin" = 1 ]; then
    echo "CPUs:     proxy under test on CPU 1; wrk and the upstream nginx on CPU 0"
  else
    echo "CPUs:     unpinned"
  fi
}

# One table row; also sets row_rps, row_cpu_us (CPU microseconds per request) and
# row_other (% of a CPU that other work took during the run).
report_row() {
  local target=$1 rps p50 p99 errors requests seconds ticks other
  read -r rps p50 p99 errors requests seconds ticks other < <(median_result "$target")
  row_rps=$rps
  row_other=$(awk -v o="$other" -v hz="$hz" -v s="$seconds" 'BEGIN { printf "%d", s ? 100 * o / hz / s : 0 }')
  row_cpu_us=$(awk -v t="$ticks" -v hz="$hz" -v n="$requests" 'BEGIN { printf "%.2f", n ? t / hz * 1e6 / n : 0 }')
  awk -v target="$target" -v rps="$rps" -v p50="$p50" -v p99="$p99" -v errors="$errors" \
    -v t="$ticks" -v o="$other" -v hz="$hz" -v s="$seconds" -v us="$row_cpu_us" 'BEGIN {
      printf "%-8s %12.0f %8.2f ms %8.2f ms %7.0f%% %7.2f us %7.0f%% %8d\n",
        target, rps, p50 / 1000, p99 / 1000, s ? 100 * t / hz / s : 0, us,
        s ? 100 * o / hz / s : 0, errors }'
}

report() {
  local target nginx_rps nginx_cpu baton_rps baton_cpu max_other=0
  echo
  describe_machine
  echo
  printf '%-8s %12s %11s %11s %8s %10s %8s %8s\n' target requests/s p50 p99 CPU CPU/req other errors
  for target in "${targets[@]}"; do
    report_row "$target"
    if [ "$row_other" -gt "$max_other" ]; then max_other=$row_other; fi
    case $target in
      nginx) nginx_rps=$row_rps nginx_cpu=$row_cpu_us ;;
      baton) baton_rps=$row_rps baton_cpu=$row_cpu_us ;;
    esac
  done
  echo
  echo "CPU: of the server under test (direct: the upstream); other: of the rest of the"
  echo "machine, outside wrk and the servers, during the run (above a few % the run is skewed)."
  echo "One CPU = 100%."
  awk -v b="$baton_rps" -v n="$nginx_rps" 'BEGIN { printf "baton/nginx requests/s:      %.2f (higher is better)\n", b / n }'
  awk -v b="$baton_cpu" -v n="$nginx_cpu" 'BEGIN { printf "baton/nginx CPU per request: %.2f (lower is better)\n", (n > 0) ? b / n : 0 }'
  if [ "$rounds" -gt 1 ]; then round_ratios; fi
  if [ "$max_other" -gt 10 ]; then
    echo "warning: other work took up to ${max_other}% of a CPU during the runs shown; run again on an idle machine"
  fi
}

# baton/nginx requests/s of each round: the two ran a few seconds apart, so a round's
# ratio is less exposed to the machine's drift than the ratio of the two medians.
round_ratios() {
  paste -d' ' "$work/baton.results" "$work/nginx.results" |
    awk '{ printf "%s%.2f", (NR > 1) ? " " : "", $1 / $(NF / 2 + 1) } END { print "" }' |
    sed 's/^/baton\/nginx requests\/s by round: /'
}

main() {
  check_tools
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  work=$(mktemp -d "${TMPDIR:-/tmp}/baton-bench.XXXXXX")
  # nginx workers drop root for "nobody", which must reach the temp paths inside.
  chmod 755 "$work"

  local upstream_port nginx_port baton_port admin_port round target started
  busy_before=$(busy_percent)
  if [ "$busy_before" -gt 10 ]; then
    log "passthrough: warning: the CPUs are ${busy_before}% busy with other work; figures will be low and noisy"
  fi
  { read -r upstream_port; read -r nginx_port; read -r baton_port; read -r admin_port; } \
    < <(free_ports 4)
  start_nginx upstream 0 write_upstream_conf "$upstream_port"
  target_pid[direct]=$started target_url[direct]=http://127.0.0.1:$upstream_port/
  start_nginx nginx 1 write_proxy_conf "$nginx_port" "$upstream_port"
  target_pid[nginx]=$started target_url[nginx]=http://127.0.0.1:$nginx_port/
  start_baton 1 "$baton_port" "$upstream_port" "$admin_port"
  target_pid[baton]=$started target_url[baton]=http://127.0.0.1:$baton_port/
  for target in "${targets[@]}"; do wait_for "$target"; done

  for round in $(seq 1 "$rounds"); do
    log "round $round/$rounds"
    for target in "${targets[@]}"; do measure "$target"; done
  done
  report
}

main "$@"
