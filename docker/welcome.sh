#!/bin/sh
# What `docker run IMAGE` prints: what is inside and how to start each chapter.
cat <<'TEXT'
asio-sandbox: the asyncio echo lesson retold in C++20 with Asio.

Chapters (on PATH):
  ch01_protocol_echo_server   the protocol (callback) echo server
  ch01_plain_asio_echo_server     the same, in plain Asio (callbacks, shared_from_this)
  ch02_stream_echo_server     the stream (coroutine) echo server
  ch02_plain_asio_echo_server     the same, in plain Asio (co_spawn, use_awaitable)
  ch03_stream_echo_client     the stream echo client (--timeout SECONDS to give up)
  ch03_plain_asio_echo_client     the same, in plain Asio (async_read_until)
  ch04_echo_bench             the echo load generator (latency, requests/s, CPU per echo)
  ch05_thread_pool_server     the echo server on a pool of threads, a strand per connection
  ch06_context_per_thread_server  the echo server with an io_context per thread
  ch07_chat_server            a chat room: every line to every other client (try nc)
  ch05_race_demo              two deliberate data races (see chapter 05's page)
  ch08_flow_control_server    an echo server that a client which never reads cannot fill up
  ch09_robust_server          a line echo server no client can hurt: timeouts, limits, graceful shutdown
  ch10_troublemaker           a client that misbehaves on purpose (--mode never-reads, idle, ...)
  ch11_where_it_runs          which thread runs each step of a coroutine; strands keep order
  ch11_handoff                &&, ||, a channel between coroutines, where an exception goes
  ch11_mistakes               two deliberate coroutine mistakes (see chapter 11's page)
  ch12_cancellation           timeouts, cancellation types, groups, the queued-handler race
  ch12_graceful_stop_server   an echo server that stops by cancelling, losing nothing
  ch13_mini_redis             a mini Redis on port 6380: try redis-cli -p 6380

Serve the lesson to your machine, then run `telnet localhost 2222` there:
  docker run -it --rm -p 2222:2222 IMAGE ch01_protocol_echo_server --host 0.0.0.0

Both sides inside one container:
  docker run -it --rm IMAGE bash -c 'ch02_stream_echo_server & sleep 0.5; ch03_stream_echo_client; kill %1'

Measure a server (chapter 04):
  docker run -it --rm IMAGE bash -c 'ch02_stream_echo_server --quiet & sleep 0.5; ch04_echo_bench --server-pid $!; kill %1'

Play with telnet and nc inside:
  docker run -it --rm IMAGE bash

Run a chapter's asyncio reference next to the C++ (chapters 01 to 03, in ~/chapters):
  docker run -it --rm IMAGE bash -c 'python3 chapters/02_stream_echo_server/reference.py & sleep 1; ch03_stream_echo_client; kill %1'

Read the docs at http://localhost:8000 (Ctrl-C stops):
  docker run -it --rm -p 8000:8000 IMAGE serve-docs

Every program takes --help.
TEXT
