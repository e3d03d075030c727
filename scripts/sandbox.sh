#!/usr/bin/env bash
# asio-sandbox's one entry point on a fresh Debian 12 (or Ubuntu 24.04) machine:
# installs whatever is missing, builds, then
#   lesson   plays the lesson: chapter 01 with a scripted telnet-like client,
#            then chapter 03's client against chapter 02's server, both consoles shown;
#   test     runs every test (CTest, dev preset), the documentation checks included;
#   bench    builds the release preset and runs chapter 04's benchmark (each
#            server warmed to a steady state first), which rewrites
#            docs/benchmarks/ and the tables in docs/benchmarks.md and
#            docs/performance.md, then chapter 06's and chapter 09's measurements;
#   redis-bench [--quick] [--rounds N]
#            builds chapter 13's server (release preset, that target only)
#            and measures it against Debian's redis-server with Redis's own
#            redis-benchmark (bench/redis_vs_mini.py): SET and GET, 50
#            connections, -P 1 and -P 16, five interleaved rounds, medians;
#            rewrites docs/benchmarks/redis_* and the figures in chapter 13's
#            page (--quick: one short round into a temporary folder);
#   fuzz     builds the fuzz preset (clang) and fuzzes the stream reader's
#            framing and chapter 13's RESP parser for SECONDS in all (default
#            60, half each), starting from fuzz/corpus/;
#   exercise lists the exercises (exercises/) and where you are with each: not
#            started, failing, passed (the last result is kept in
#            build/dev/exercise-state/); `exercise NN` builds exercise NN and
#            runs its tests, each failure saying what was expected and what
#            your program did; `exercise NN --solution` runs them against the
#            solution instead. Status 0 when the tests pass, 1 when not, 2
#            for a bad command line;
#   pages    refreshes the pages from the sources: every listing becomes its
#            marked region again (a "\snippet FILE MARKER" line becomes a
#            listing), each chapter's bottom navigation a copy of its top one,
#            the text form of a sequence diagram; the docs.listings test fails
#            until this is run. Needs python3 only: nothing is installed or built.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

usage() {
  local modes="lesson|test|bench [benchmark options]|redis-bench [--quick] [--rounds N]"
  modes+="|fuzz [SECONDS]|exercise [NN [--solution]]"
  echo "usage: $0 $modes|pages" >&2
  exit 2
}
[ $# -ge 1 ] || usage
mode=$1
shift
if [ "$mode" = pages ]; then
  [ $# -eq 0 ] || usage
  exec python3 tests/docs/check_docs.py listings --fix .
fi
[ "$mode" = bench ] || [ "$mode" = redis-bench ] || [ "$mode" = fuzz ] ||
  [ "$mode" = exercise ] || [ $# -eq 0 ] || usage

# What a build and the tests need, as Debian packages. python3 runs the
# chapters' reference programs, so the tests can compare C++ with asyncio.
packages=(g++ cmake ninja-build libasio-dev libcli11-dev libgtest-dev libbenchmark-dev python3)
# The tests also build the documentation site and check it, and run the
# benchmark once, briefly: its peers and charts need these.
docs_packages=(doxygen graphviz doxygen-awesome-css)
bench_packages=(python3-uvloop gnuplot-nox nodejs)
# Chapter 13 is checked with Redis's own clients: redis-cli and
# redis-benchmark (redis-tools), redis-py (python3-redis), in its tests and
# in its page's recipes. Its tests also run against the real redis-server,
# to prove that the replies they expect are Redis's, and the benchmark
# measures against it. On a machine with systemd, installing redis-server
# also starts it as a service on port 6379, which nothing here uses: the
# tests and the benchmark start their own on free ports.
redis_packages=(redis-tools python3-redis redis-server)
# The page recipes type into the real telnet and nc.
recipe_packages=(telnet netcat-openbsd)
# libFuzzer comes with clang's runtime libraries.
fuzz_packages=(clang libclang-rt-14-dev)

install_missing() {
  local missing=() package
  for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
      missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "==> Installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

build() {
  echo "==> Configuring and building (preset dev, in build/dev)"
  cmake --preset dev >/dev/null
  cmake --build --preset dev "$@"
}

# --- The guided tour ---------------------------------------------------------

bin=build/dev/chapters
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true; }
trap cleanup EXIT

# Starts a server chapter on a free port with its console prefixed, and sets
# $port from its first line, "Serving on HOST:PORT".
start_server() {
  local console; console=$(mktemp)
  "$@" --port 0 >"$console" 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do
    port=$(sed -n '1s/^Serving on .*:\([0-9]*\)$/\1/p' "$console")
    [ -n "$port" ] && break
    sleep 0.05
  done
  [ -n "$port" ] || { cat "$console"; echo "server did not start" >&2; exit 1; }
  tail -n +1 -s 0.05 -f --pid="$server_pid" "$console" | sed -u 's/^/    server | /' &
}

# Like telnet: send one key at a time and show what comes back.
type_keys() {
  exec 3<>"/dev/tcp/127.0.0.1/$port"
  local key reply
  for key in "$@"; do
    printf '%s' "$key" >&3
    sleep 0.3
    IFS= read -r -t 1 -n 64 reply <&3 || true
    printf '    client | typed %s, got %s\n' "$key" "$reply"
  done
  exec 3>&-
}

lesson() {
  build --target ch01_protocol_echo_server ch02_stream_echo_server ch03_stream_echo_client
  cat <<'TEXT'

==> Chapter 01: the protocol echo server (chapters/01_protocol_echo_server)
    The lesson's SimpleEchoProtocol. A client types a, b, c as telnet would;
    the server prints what it receives and answers "echo:" + the key.
TEXT
  start_server "$bin/ch01_protocol_echo_server" --host 127.0.0.1
  sleep 0.2
  type_keys a b c
  wait "$server_pid" && echo "    (the server ended with status $? once its connection was lost)"
  server_pid=""
  sleep 0.2

  cat <<'TEXT'

==> Chapters 02 and 03: the stream echo server and client
    The server reads with read(8192) and echoes; the client writes four
    lines, then reads them back with readline().
TEXT
  start_server "$bin/ch02_stream_echo_server" --host 127.0.0.1
  sleep 0.2
  "$bin/ch03_stream_echo_client" --host 127.0.0.1 --port "$port" | sed -u 's/^/    client | /'
  sleep 0.3
  kill -INT "$server_pid"
  wait "$server_pid" && echo "    (Ctrl-C ended the server with status $?)"
  server_pid=""
  sleep 0.2
  cat <<TEXT

==> Your turn. In one terminal:   $bin/ch01_protocol_echo_server
    and in another:                telnet localhost 2222
    Then read chapters/01_protocol_echo_server/README.md.
TEXT
}

# --- The exercises -----------------------------------------------------------

state_dir=build/dev/exercise-state

# The folder of exercise $1 (01, or 1), or nothing.
exercise_folder() {
  local number
  [[ $1 =~ ^[0-9]{1,2}$ ]] || return 0
  number=$(printf '%02d' "$((10#$1))")
  compgen -G "exercises/${number}_*" | head -n 1 || true
}

# A fingerprint of the learner's starter, to tell whether the last result
# is about the file as it is now.
fingerprint() { cksum <"$1/main.cpp" | cut -d' ' -f1; }

# not started | not run yet | passed | failing, and "(edited since)".
exercise_state() {
  local folder=$1 name; name=$(basename "$1")
  # Unchanged since the last commit (or no git to ask): the starter as given.
  if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1 ||
     git diff --quiet HEAD -- "$folder/main.cpp"; then
    echo "not started"
  elif [ -f "$state_dir/$name" ]; then
    local result print; read -r result print <"$state_dir/$name"
    if [ "$print" = "$(fingerprint "$folder")" ]; then
      echo "$result"
    else
      echo "$result (edited since)"
    fi
  else
    echo "not run yet"
  fi
}

list_exercises() {
  echo "Exercises (exercises/README.md); check one with: $0 exercise NN"
  local folder next="" state
  for folder in exercises/[0-9][0-9]_*/; do
    folder=${folder%/}
    state=$(exercise_state "$folder")
    printf '  %-22s %-24s %s\n' "$(basename "$folder")" "$state" \
      "$(sed -n '1s/^# Exercise [0-9]*: //p' "$folder/README.md")"
    [ -z "$next" ] && [ "$state" != passed ] && next=$folder
  done
  if [ -n "$next" ]; then
    echo "Next: $next/README.md"
  else
    echo "Every exercise passes. Well done."
  fi
}

# Builds exercise $1 (a folder) and runs its tests against the starter, or
# with $2 = --solution against the solution.
run_exercise() {
  local folder=$1 which=${2:-} name target log
  name=$(basename "$folder")
  target=ex$name
  [ "$which" = --solution ] && target=${target}_solution
  log=$(mktemp)
  echo "==> Building $folder (preset dev, in build/dev)"
  if ! { cmake --preset dev >"$log" 2>&1 &&
         cmake --build --preset dev --target "$target" "ex${name}_test" >"$log" 2>&1; }; then
    # The compiler's own words, without the build tool's progress lines.
    grep -v -e '^\[[0-9]*/[0-9]*\]' -e '^FAILED: ' -e '^/usr/bin/' -e '^ninja: ' "$log" |
      sed -E "s|$PWD/||" | head -n 60
    echo "==> $folder does not build yet: the first error above is the one to fix."
    [ -z "$which" ] && record "$folder" failing
    return 1
  fi
  echo "==> Testing $(sed -n '1s/^# //p' "$folder/README.md")${which:+ (the solution)}"
  local status=0
  # --gtest_brief: only the failures and the count. The filter drops
  # GoogleTest's restatement of each check, whose message already says what
  # was expected and what the program did.
  "build/dev/exercises/ex${name}_test" "build/dev/exercises/$target" --gtest_brief=1 \
      >"$log" 2>&1 || status=$?
  grep -v -E '^(Value of: |  Actual: (true|false)$|Expected: (true|false)$|Failed$)' "$log" |
    sed -E "s|^$PWD/||"
  rm -f "$log"
  if [ "$status" -eq 0 ]; then
    if [ -z "$which" ]; then
      record "$folder" passed
      echo "==> Passed. Compare with $folder/solution/main.cpp, then: $0 exercise"
    fi
    return 0
  fi
  [ -z "$which" ] && record "$folder" failing
  echo "==> Not yet: each failure above says what was expected. Hints: $folder/README.md"
  return 1
}

record() {
  mkdir -p "$state_dir"
  echo "$2 $(fingerprint "$1")" >"$state_dir/$(basename "$1")"
}

exercise() {
  if [ $# -eq 0 ]; then
    list_exercises
    return 0
  fi
  local folder; folder=$(exercise_folder "$1")
  if [ -z "$folder" ] || [ $# -gt 2 ] || { [ $# -eq 2 ] && [ "$2" != --solution ]; }; then
    local all=(exercises/[0-9][0-9]_*) last
    last=$(basename "${all[-1]}")
    echo "error: expected $0 exercise [NN [--solution]], NN from 01 to ${last%%_*}" >&2
    exit 2
  fi
  run_exercise "$folder" "${2:-}"
}

[ "$mode" = test ] && packages+=("${docs_packages[@]}" "${bench_packages[@]}" "${redis_packages[@]}" "${recipe_packages[@]}")
[ "$mode" = bench ] && packages+=("${bench_packages[@]}")
[ "$mode" = redis-bench ] && packages+=("${redis_packages[@]}" gnuplot-nox)
[ "$mode" = fuzz ] && packages+=("${fuzz_packages[@]}")
# Listing the exercises needs nothing installed.
[ "$mode" = exercise ] && [ $# -eq 0 ] && { exercise; exit 0; }
install_missing
case "$mode" in
  lesson) lesson ;;
  exercise) exercise "$@" ;;
  test)
    build
    echo "==> Running every test"
    ctest --preset dev
    ;;
  bench)
    echo "==> Configuring and building (preset release, in build/release)"
    cmake --preset release >/dev/null
    # Only what is measured: the servers, the load generator and the C
    # baseline (not the tests, exercises and bug hunts).
    cmake --build --preset release --target ch01_protocol_echo_server ch02_stream_echo_server \
      ch04_echo_bench ch05_thread_pool_server ch06_context_per_thread_server ch09_robust_server \
      epoll_echo_server
    python3 bench/run_benchmarks.py --build-dir build/release "$@"
    # Chapter 06's comparison of the two threading designs (--quick passes on).
    threads_args=()
    for arg in "$@"; do [ "$arg" = --quick ] && threads_args+=(--quick); done
    python3 bench/compare_threads.py --build-dir build/release "${threads_args[@]}"
    # What an idle connection costs chapter 09's server: 10,000 of them
    # (--quick: 1,000).
    idle_args=()
    for arg in "$@"; do [ "$arg" = --quick ] && idle_args+=(--connections 1000); done
    echo "==> Idle connections: chapter 09's memory per connection"
    python3 bench/idle_memory.py --build-dir build/release "${idle_args[@]}"
    ;;
  redis-bench)
    echo "==> Configuring and building ch13_mini_redis (preset release, in build/release)"
    cmake --preset release >/dev/null
    cmake --build --preset release --target ch13_mini_redis
    python3 bench/redis_vs_mini.py --build-dir build/release "$@"
    ;;
  fuzz)
    seconds=${1:-60}
    echo "==> Configuring and building (preset fuzz, clang, in build/fuzz)"
    cmake --preset fuzz >/dev/null
    cmake --build --preset fuzz
    echo "==> The seed corpus, each input once"
    ctest --preset fuzz
    # New inputs go to a scratch folder (the first one named), so the
    # repository's corpus changes only when someone adds an input on purpose.
    scratch=$(mktemp -d)
    # The time is shared between the targets: each gets half.
    half=$(( (seconds + 1) / 2 ))
    echo "==> Fuzzing the stream reader for $half s (new inputs in $scratch)"
    build/fuzz/fuzz/stream_reader_fuzz -max_total_time="$half" -max_len=4096 \
      -print_final_stats=1 "$scratch" fuzz/corpus/stream_reader
    scratch=$(mktemp -d)
    echo "==> Fuzzing chapter 13's RESP parser for $half s (new inputs in $scratch)"
    build/fuzz/fuzz/resp_parser_fuzz -max_total_time="$half" -max_len=4096 \
      -print_final_stats=1 "$scratch" fuzz/corpus/resp_parser
    ;;
  *) usage ;;
esac
