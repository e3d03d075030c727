#!/usr/bin/env bash
# Proves the Dockerfile: builds the image (which runs the whole test suite and
# builds the docs), then checks the final image: its welcome text, and
# chapters 02 and 03 talking to each other inside it.
#
# Uses `docker build` when a Docker engine answers. Otherwise (as on our CI
# machines) it uses `buildah bud --isolation chroot`, from a debian:bookworm
# base made locally with debootstrap and `podman import`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

image=localhost/asio-sandbox:check
base=docker.io/library/debian:bookworm
cache=${SANDBOX_DOCKER_CACHE:-/var/tmp/asio-sandbox-docker}

# The check run inside the final image, as its non-root user.
inside_check='
  set -eu
  asio-sandbox-welcome | grep -q "ch01_protocol_echo_server --host 0.0.0.0"
  # The welcome names every program the image has, and the image has every
  # program the welcome names.
  asio-sandbox-welcome | sed -n "s/^  \(ch[0-9][0-9]_[a-z0-9_]*\) .*/\1/p" | sort >/tmp/named
  ls /usr/local/bin | grep "^ch[0-9][0-9]_" | sort >/tmp/installed
  diff /tmp/named /tmp/installed
  test "$(wc -l </tmp/named)" -ge 14
  for exe in telnet nc; do command -v "$exe" >/dev/null; done
  test -f /usr/share/doc/asio-sandbox/html/index.html
  test "$(id -u)" != 0
  # serve LOG PROGRAM [OPTIONS]: starts a server on a free loopback port;
  # sets $server (its pid) and $port once it says "Serving on".
  serve() {
    log=$1; shift
    "$@" --host 127.0.0.1 --port 0 >"$log" &
    server=$!
    for i in $(seq 50); do grep -q "^Serving on" "$log" && break; sleep 0.1; done
    port=$(sed -n "1s/.*:\([0-9]*\)$/\1/p" "$log")
  }
  serve /tmp/server.log ch02_stream_echo_server --quiet
  ch03_stream_echo_client --host 127.0.0.1 --port "$port" >/tmp/client.log
  ch04_echo_bench --host 127.0.0.1 --port "$port" --duration 0.5 --warmup 0.1 --quiet \
    --server-pid "$server" >/tmp/bench.log
  grep -q "^Server CPU: .* per echo" /tmp/bench.log
  kill -INT "$server"
  wait "$server"
  printf "%s\n" "Lines received" "b'"'"'First line.\\n'"'"'" "b'"'"'Second line.\\n'"'"'" \
                "b'"'"'Third line.\\n'"'"'" "b'"'"'Last line.\\n'"'"'" >/tmp/expected.log
  diff /tmp/expected.log /tmp/client.log
  grep -q "^Connection received!" /tmp/server.log
  serve /tmp/pool.log ch05_thread_pool_server --threads 2
  ch03_stream_echo_client --host 127.0.0.1 --port "$port" >/tmp/client.log
  diff /tmp/expected.log /tmp/client.log
  for i in $(seq 50); do grep -q "connection 1 closed$" /tmp/pool.log && break; sleep 0.1; done
  kill -TERM "$server"
  wait "$server"
  grep -q "^Connections: 1 total, 0 open; bytes echoed: 48$" /tmp/pool.log
  serve /tmp/robust.log ch09_robust_server --idle-timeout 1
  ch03_stream_echo_client --host 127.0.0.1 --port "$port" >/tmp/client.log
  diff /tmp/expected.log /tmp/client.log
  ch10_troublemaker --host 127.0.0.1 --port "$port" --mode idle --duration 5 >/tmp/trouble.log
  grep -q "the server says: error: no line for 1 s; closing$" /tmp/trouble.log
  kill -TERM "$server"
  wait "$server"
  grep -q "^Served 2 connection(s), echoed 4 line(s); closed 1 idle" /tmp/robust.log
  echo "inside the image: chapters 02, 03, 04, 05, 09 and 10 talked; welcome, docs, tools and user are right"
'

if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  echo "==> Docker engine found: docker build"
  docker build -t "$image" .
  docker run --rm "$image" | head -n 3
  docker run --rm "$image" sh -c "$inside_check"
  exit 0
fi

echo "==> No Docker engine: buildah with chroot isolation"
need=()
for tool in buildah podman debootstrap; do command -v "$tool" >/dev/null || need+=("$tool"); done
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

# The base image, made once from Debian's own packages and kept in the local
# image store under the name the Dockerfile asks for.
if ! buildah inspect --type image "$base" >/dev/null 2>&1; then
  echo "==> Making $base with debootstrap (about 30 s)"
  rootfs="$cache/rootfs"
  rm -rf "$rootfs"
  mkdir -p "$cache"
  debootstrap --variant=minbase bookworm "$rootfs" >"$cache/debootstrap.log" 2>&1 ||
    { tail -n 20 "$cache/debootstrap.log"; exit 1; }
  tar -C "$rootfs" -c . | podman import - "$base"
  rm -rf "$rootfs"
fi

echo "==> Building the image (the build stage runs every test)"
buildah bud --isolation chroot --pull-never --layers=false -t "$image" .

container=$(buildah from --pull-never "$image")
trap 'buildah rm "$container" >/dev/null' EXIT
echo "==> Running the image's default command"
buildah run --isolation chroot "$container" -- asio-sandbox-welcome | head -n 3
buildah run --isolation chroot "$container" -- sh -c "$inside_check"
