# shellcheck shell=bash disable=SC2154  # pids and work belong to the sourcing script
# Helpers for scripts that start servers on loopback ports: the demo and the benchmarks.
# Sourced, not run. A script keeps the processes it starts in the array `pids` and its
# temporary files under `$work`; `trap cleanup EXIT` ends both.

# Prints $1 distinct free loopback ports, one per line. The sockets are all bound at once
# so that the ports differ, then released for the servers to take.
free_ports() {
  python3 - "$1" <<'PY'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print("\n".join(str(s.getsockname()[1]) for s in socks))
PY
}

cleanup() {
  local pid
  for pid in ${pids[@]+"${pids[@]}"}; do kill "$pid" 2>/dev/null || true; done
  for pid in ${pids[@]+"${pids[@]}"}; do wait "$pid" 2>/dev/null || true; done
  if [ -n "${work:-}" ]; then rm -rf "$work"; fi
}

# CPU time (clock ticks) used so far by process $1 and its children: an nginx master
# and its worker, or every thread of baton.
cpu_ticks() {
  local pid
  for pid in "$1" $(pgrep -P "$1" || true); do
    sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null || true
  done | awk '{ sum += $12 + $13 } END { print sum + 0 }'
}

# CPU time (clock ticks) of all CPUs so far: "busy idle". Busy is user, nice, system, irq,
# softirq and steal (guest time is inside user already); idle includes I/O wait.
machine_ticks() {
  awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat
}
