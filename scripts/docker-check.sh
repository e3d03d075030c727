#!/usr/bin/env bash
# Proves the Dockerfile. Builds the final image (its build stage runs the
# programs' tests and builds the docs) and the dev stage (the workbench),
# then checks:
#   - inside the final image: its welcome text, chapters 02 to 10 talking to
#     each other, each chapter's reference.py running with python3, the tools,
#     the docs and the non-root user;
#   - the image: its programs stripped, its revision label set, its size under
#     a budget (printed);
#   - signals: serve-docs as PID 1 without tini ignores SIGTERM (why the image
#     has tini); with tini, SIGTERM and SIGINT end it within 3 s (printed);
#   - the workbench: in the dev image with this repository mounted at /src,
#     an edit to chapter 01 rebuilds and reruns its test within 60 s (printed).
#
# Uses `docker` when a Docker engine answers. Otherwise (as on our CI
# machines) it uses `buildah bud --isolation chroot`, from a debian:bookworm
# base made locally with debootstrap, cleaned like Docker Hub's.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

image=localhost/asio-sandbox:check
dev_image=localhost/asio-sandbox:dev
base=docker.io/library/debian:bookworm
base_label=asio-sandbox.base=clean-1
cache=${SANDBOX_DOCKER_CACHE:-/var/tmp/asio-sandbox-docker}
# The image was 312 MB with apt's caches, 161 MB without; python3 adds
# about 30 MB. The budget leaves room for a few chapters more.
size_budget_mb=220
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)

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
  for exe in telnet nc python3 tini; do command -v "$exe" >/dev/null; done
  test -f /usr/share/doc/asio-sandbox/html/index.html
  test "$(id -u)" != 0
  # serve LOG PROGRAM [OPTIONS]: starts a server on a free loopback port;
  # sets $server (its pid) and $port once it says "Serving on".
  serve() {
    log=$1; shift
    "$@" --host 127.0.0.1 --port 0 >"$log" &
    server=$!
    for i in $(seq 50); do grep -qs "^Serving on" "$log" && break; sleep 0.1; done
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
  # The pages run the Python references side by side with the C++: chapter
  # 02s reference serves, chapter 03s reference and the C++ client talk to it.
  serve /tmp/ref.log python3 chapters/02_stream_echo_server/reference.py --quiet
  python3 chapters/03_stream_echo_client/reference.py --host 127.0.0.1 --port "$port" >/tmp/client.log
  diff /tmp/expected.log /tmp/client.log
  ch03_stream_echo_client --host 127.0.0.1 --port "$port" >/tmp/client.log
  diff /tmp/expected.log /tmp/client.log
  kill -TERM "$server"
  wait "$server"
  python3 chapters/01_protocol_echo_server/reference.py --help >/dev/null
  # Stripped programs: no symbol table, no debug info (python3 reads the
  # ELF section names; the image has no binutils).
  python3 - <<"PY"
import glob, struct, sys
unstripped = []
for path in sorted(glob.glob("/usr/local/bin/ch[0-9][0-9]_*")):
    data = open(path, "rb").read()
    assert data[:5] == b"\x7fELF\x02", path + ": not a 64-bit ELF file"
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    headers = [struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize) for i in range(shnum)]
    names_at = headers[shstrndx][4]
    names = {data[names_at + h[0]:data.index(b"\0", names_at + h[0])] for h in headers}
    if names & {b".symtab", b".debug_info"}:
        unstripped.append(path)
if unstripped:
    sys.exit("not stripped: " + " ".join(unstripped))
PY
  echo "inside the image: chapters 02, 03, 04, 05, 09 and 10 and the Python references talked;"
  echo "  programs stripped; welcome, docs, tools and user are right"
'

# Run as root with CAP_SYS_ADMIN (buildah path only): `unshare --pid` makes
# the program PID 1 of a new PID namespace, as `docker run` does, and a
# signal is sent to it from outside, as `docker stop` does. job control (set
# -m) so the background jobs do not start with SIGINT ignored.
signal_check='
  set -eu
  set -m
  # stop_time WITH_TINI SIGNAL: starts serve-docs as PID 1 (under tini or
  # alone), sends SIGNAL to that PID 1, and sets $result to the seconds
  # until it ended, or "running" if it still ran 3 s later (then kills it).
  # Not $(stop_time ...): job control is off in a command substitution.
  stop_time() {
    # No network namespace here: the port is the host one. Below the Linux
    # ephemeral range (32768 up), and another one if it is taken anyway.
    for attempt in 1 2 3 4 5; do
      port=$((10000 + RANDOM % 20000))
      if [ "$1" = yes ]; then
        unshare --pid --fork --mount-proc /usr/bin/tini -- serve-docs "$port" >/tmp/docs.log 2>&1 &
      else
        unshare --pid --fork --mount-proc serve-docs "$port" >/tmp/docs.log 2>&1 &
      fi
      outer=$!
      pid1=""
      for i in $(seq 100); do
        [ -n "$pid1" ] || pid1=$(for stat in /proc/[0-9]*/stat; do
                                   read -r pid comm state ppid rest 2>/dev/null <"$stat" || continue
                                   [ "$ppid" = "$outer" ] && echo "$pid"; done; true)
        [ -n "$pid1" ] && nc -z 127.0.0.1 "$port" 2>/dev/null && break
        [ -d "/proc/$outer" ] && [ "$(cut -d" " -f3 "/proc/$outer/stat")" != Z ] || break
        sleep 0.1
      done
      nc -z 127.0.0.1 "$port" 2>/dev/null && break
      [ -z "$pid1" ] || kill -KILL "$pid1" 2>/dev/null || true
      wait "$outer" || true
      [ "$attempt" -lt 5 ] || { echo "serve-docs did not start" >&2; cat /tmp/docs.log >&2; exit 1; }
    done
    start=$EPOCHREALTIME
    kill "-$2" "$pid1"
    for i in $(seq 300); do
      state=$(cut -d" " -f3 "/proc/$outer/stat" 2>/dev/null || true)
      if [ -z "$state" ] || [ "$state" = Z ]; then
        wait "$outer" || true
        result=$(awk -v a="$start" -v b="$EPOCHREALTIME" "BEGIN { printf \"%.2f\", b - a }")
        return
      fi
      sleep 0.01
    done
    kill -KILL "$pid1"
    wait "$outer" || true
    result=running
  }
  for signal in TERM INT; do
    stop_time no "$signal"
    [ "$result" = running ] ||
      { echo "serve-docs alone as PID 1 ended on SIG$signal ($result s): is tini still needed?" >&2; exit 1; }
    echo "serve-docs alone as PID 1: still running 3 s after SIG$signal (the kernel gives PID 1 no default action)"
  done
  for signal in TERM INT; do
    stop_time yes "$signal"
    [ "$result" != running ] || { echo "under tini, SIG$signal did not end serve-docs within 3 s" >&2; exit 1; }
    echo "serve-docs under tini: SIG$signal ended it in $result s"
  done
'

# The workbench loop, in the dev image with the repository at /src and a
# persistent build directory over /src/build: configure and build chapter
# 01 (once: the directory is kept between runs), then time what a learner's
# edit costs: rebuild, its tests, and the Python client against it.
workbench_check='
  set -eu
  cmake --preset dev >/tmp/configure.log || { cat /tmp/configure.log; exit 1; }
  cmake --build --preset dev --target ch01_protocol_echo_server >/tmp/first-build.log ||
    { tail -n 30 /tmp/first-build.log; exit 1; }
  touch chapters/01_protocol_echo_server/main.cpp
  start=$EPOCHREALTIME
  cmake --build --preset dev --target ch01_protocol_echo_server
  ctest --preset dev -R "^ch01_protocol_echo_server"
  server=build/dev/chapters/ch01_protocol_echo_server
  "$server" --host 127.0.0.1 --port 0 --quiet >/tmp/server.log &
  pid=$!
  for i in $(seq 50); do grep -q "^Serving on" /tmp/server.log && break; sleep 0.1; done
  port=$(sed -n "1s/.*:\([0-9]*\)$/\1/p" /tmp/server.log)
  python3 chapters/03_stream_echo_client/reference.py --host 127.0.0.1 --port "$port" |
    grep -q "^b.Last line"
  # The lesson server stops after its first client; if not, stop it.
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid"
  seconds=$(awk -v a="$start" -v b="$EPOCHREALTIME" "BEGIN { printf \"%.1f\", b - a }")
  echo "workbench: an edit to chapter 01 rebuilt, passed its tests and served in $seconds s"
  awk -v s="$seconds" "BEGIN { exit !(s <= 60) }" || { echo "slower than 60 s" >&2; exit 1; }
'

expected_references=$(cd chapters && ls -d */reference.py | sort)
check_size_and_label() { # BYTES REVISION_LABEL
  local mb=$(( $1 / 1000000 ))
  echo "image size: $mb MB (budget $size_budget_mb MB)"
  [ "$mb" -le "$size_budget_mb" ] || { echo "over the budget" >&2; exit 1; }
  [ "$2" = "$revision" ] || { echo "revision label is '$2', not $revision" >&2; exit 1; }
  echo "revision label: $2"
}

if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  echo "==> Docker engine found: docker build"
  docker build --build-arg REVISION="$revision" -t "$image" .
  docker build --target dev -t "$dev_image" .
  docker run --rm "$image" | head -n 3
  docker run --rm "$image" sh -c "$inside_check"
  [ "$(docker run --rm "$image" sh -c 'cd chapters && ls -d */reference.py | sort')" = "$expected_references" ]
  check_size_and_label "$(docker image inspect --format '{{.Size}}' "$image")" \
    "$(docker image inspect --format '{{index .Config.Labels "org.opencontainers.image.revision"}}' "$image")"
  # docker stop sends SIGTERM to PID 1, then SIGKILL after -t seconds.
  for entry in /usr/bin/tini serve-docs; do
    id=$(docker run -d --entrypoint "$entry" "$image" $([ "$entry" = serve-docs ] || echo -- serve-docs))
    sleep 1
    start=$(date +%s.%N); docker stop -t 3 "$id" >/dev/null; end=$(date +%s.%N)
    docker rm "$id" >/dev/null
    echo "docker stop with entrypoint $entry: $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }') s"
  done
  mkdir -p "$cache/workbench-build"
  docker run --rm -v "$PWD:/src" -v "$cache/workbench-build:/src/build" "$dev_image" bash -c "$workbench_check"
  exit 0
fi

# buildah starts every RUN step and every `buildah run` from a sealed
# in-memory copy of its runtime; now and then the kernel refuses the seal
# ("sealing memfd copy: Device or resource busy", EBUSY: a page of the copy
# still pinned) before the command has started. That is the tool's hiccup,
# not the image's, and one CI run failed on it: try again, up to 3 times.
# Stdout passes straight through (nothing was printed before the failure).
buildah_retrying() {
  local attempt status err
  err=$(mktemp)
  for attempt in 1 2 3; do
    # Stderr through tee into $err, stdout untouched (fd 3); pipefail
    # gives buildah's status.
    { buildah "$@" 2>&1 1>&3 3>&- | tee "$err" >&2 3>&-; } 3>&1 && status=0 || status=$?
    if [ "$status" -eq 0 ] || ! grep -q "sealing memfd copy" "$err"; then
      rm -f "$err"
      return "$status"
    fi
    echo "buildah: the kernel refused to seal its runtime copy (attempt $attempt of 3); again" >&2
    sleep 2
  done
  rm -f "$err"
  return "$status"
}

echo "==> No Docker engine: buildah with chroot isolation"
need=()
for tool in buildah podman debootstrap; do command -v "$tool" >/dev/null || need+=("$tool"); done
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

# The base image, made from Debian's own packages and kept in the local image
# store under the name the Dockerfile asks for. Cleaned as Docker Hub's is
# (no downloaded .deb files, no package lists), so the sizes measured here
# are the sizes readers get. The label tells a clean base from an old one.
if [ "$(buildah inspect --type image --format "{{index .OCIv1.Config.Labels \"${base_label%%=*}\"}}" "$base" 2>/dev/null)" != "${base_label#*=}" ]; then
  echo "==> Making $base with debootstrap (about a minute)"
  rootfs="$cache/rootfs"
  rm -rf "$rootfs"
  mkdir -p "$cache"
  debootstrap --variant=minbase bookworm "$rootfs" >"$cache/debootstrap.log" 2>&1 ||
    { tail -n 20 "$cache/debootstrap.log"; exit 1; }
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | podman import --change "LABEL $base_label" --change 'CMD ["bash"]' - "$base"
  rm -rf "$rootfs"
fi

# The dev stage keeps its layers (a rerun reuses them); the image does not:
# buildah's layer cache ignores a changed --build-arg, and would keep the
# previous image's revision label.
echo "==> Building the dev stage (the workbench)"
buildah_retrying bud --isolation chroot --pull-never --layers --target dev -t "$dev_image" .
echo "==> Building the image (the build stage runs every test)"
buildah_retrying bud --isolation chroot --pull-never --layers=false --build-arg REVISION="$revision" -t "$image" .

containers=()
trap 'for c in "${containers[@]}"; do buildah rm "$c" >/dev/null; done' EXIT
container=$(buildah from --pull-never "$image")
containers+=("$container")
echo "==> Running the image's default command"
buildah_retrying run --isolation chroot "$container" -- asio-sandbox-welcome | head -n 3
buildah_retrying run --isolation chroot --workingdir /home/learner "$container" -- sh -c "$inside_check"
[ "$(buildah_retrying run --isolation chroot --workingdir /home/learner "$container" -- \
     sh -c 'cd chapters && ls -d */reference.py | sort')" = "$expected_references" ] ||
  { echo "the image lacks a chapter's reference.py" >&2; exit 1; }
echo "==> Size and labels"
check_size_and_label "$(podman image inspect --format '{{.Size}}' "$image")" \
  "$(buildah inspect --type image --format '{{index .OCIv1.Config.Labels "org.opencontainers.image.revision"}}' "$image")"
echo "==> Signals"
buildah_retrying run --isolation chroot --user root --cap-add CAP_SYS_ADMIN "$container" -- bash -c "$signal_check"

echo "==> The workbench: one chapter's edit in the dev image"
mkdir -p "$cache/workbench-build"
dev_container=$(buildah from --pull-never "$dev_image")
containers+=("$dev_container")
buildah_retrying run --isolation chroot -v "$PWD:/src" -v "$cache/workbench-build:/src/build" \
  "$dev_container" -- bash -c "$workbench_check"
