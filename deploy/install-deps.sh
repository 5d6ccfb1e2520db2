#!/usr/bin/env bash
# Installs every Debian package that baton's build, tests, demo and benchmarks need.
# Idempotent: packages already present are skipped, so a second run costs one dpkg query.
set -euo pipefail

packages=(
  # build
  build-essential cmake pkg-config ninja-build ccache
  libboost-dev libssl-dev libhiredis-dev rapidjson-dev libspdlog-dev libfmt-dev
  libyaml-cpp-dev libjemalloc-dev doctest-dev
  # tests, demo and benchmarks
  redis-server redis-tools nginx-light haproxy wrk curl ca-certificates procps python3
  valgrind  # tests/bench/leased.sh BENCH_INSTRUCTIONS: instructions per request
  # the admin page's browser test (driven by playwright-core from npm)
  chromium
)

# --fuzz: also clang and libFuzzer (in libclang-rt-dev, which clang only recommends) for
# tests/fuzz/run.sh. CI replays the fuzz corpora with g++ and does not need them.
if [ "${1:-}" = "--fuzz" ]; then packages+=(clang libclang-rt-dev); fi

# Node.js and npm drive the demo engine. A machine may carry a newer Node.js from
# elsewhere; only ask Debian for it when none is on the PATH.
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

as_root=()
[ "$(id -u)" -eq 0 ] || as_root=(sudo)

echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts the packaged servers; the tests and the demo run their own on private ports.
for service in redis-server nginx haproxy; do
  "${as_root[@]}" service "$service" stop >/dev/null 2>&1 || true
done
