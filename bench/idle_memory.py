#!/usr/bin/env python3
"""What an idle connection costs chapter 09's server in memory.

    ./scripts/sandbox.sh bench            # runs this briefly (--connections 2000) at the end
    python3 bench/idle_memory.py --build-dir build/release [--connections 10000]

Starts chapter 09's server (ch09_robust_server) with its descriptor limit
raised to the hard limit, so that it may hold every connection, and a
connection limit and idle timeout that do not get in the way. Then:

  1. one warm-up client sends a line, reads its echo and leaves, so that
     what the server sets up once (its thread's read buffer, Asio's pools)
     is not charged to the idle connections;
  2. the server's resident memory (VmRSS in /proc/PID/status) is read;
  3. N clients connect and send nothing, from this process (its own limit
     raised too); the server has accepted them all once /proc/PID/fd shows
     N more descriptors;
  4. VmRSS again, once it stops growing; the difference over N is what one
     idle connection costs: its socket's state in Asio, the transport and
     stream objects, the coroutine frames that wait for a line, its timers.
     (The kernel's socket buffers are not in RSS.)
  5. the last client sends a line and must get its echo: the server still
     serves them all.

Prints a line of RSS every quarter of the way, and at the end
`N idle connections: +X MiB, Y KiB per connection`. Exits 1 only when
something really fails (the server does not start, refuses, or dies); a
hard descriptor limit below N + 64 lowers N, with a note.
"""
from __future__ import annotations

import argparse
import os
import resource
import socket
import sys
import tempfile
import time
from pathlib import Path

from run_benchmarks import RunningServer, Server as BenchServer

ROOT = Path(__file__).resolve().parent.parent
SPARE_DESCRIPTORS = 64  # The listener, stdio, epoll, the warm-up client...


def raise_descriptor_limit(wanted: int) -> int:
    """Raises this process's soft limit on open descriptors towards
    `wanted`, up to the hard limit; returns the new soft limit. A child
    started afterwards inherits it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def resident_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def open_descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def settled_rss(pid: int, timeout: float = 10.0) -> int:
    """VmRSS once two readings 0.2 s apart agree (the server has finished
    setting up what it accepted), or the last reading after `timeout`."""
    deadline = time.monotonic() + timeout
    last = resident_kib(pid)
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = resident_kib(pid)
        if now == last:
            break
        last = now
    return last


def start_server(executable: Path, connections: int, logs: Path) -> RunningServer:
    """ch09_robust_server on a free port of 127.0.0.1 (run_benchmarks.py's
    RunningServer: its console in files under `logs`), with a connection
    limit and an idle timeout that do not get in the way."""
    return RunningServer(
        BenchServer("ch09-idle", "chapter 09", [
            str(executable), "--max-connections", str(connections + SPARE_DESCRIPTORS),
            "--idle-timeout", "3600", "--grace", "0"]),
        None, logs)


def check_alive(server: RunningServer) -> None:
    if server.process.poll() is not None:
        server.errors.seek(0)
        raise RuntimeError(f"the server exited with status {server.process.returncode}: "
                           f"{server.errors.read()[-500:]!r}")


def echo_once(client: socket.socket, line: bytes) -> None:
    client.settimeout(10)
    client.sendall(line)
    got = b""
    while not got.endswith(b"\n"):
        chunk = client.recv(4096)
        if not chunk:
            raise RuntimeError(f"the server closed the connection instead of echoing {line!r}")
        got += chunk
    if got != line:
        raise RuntimeError(f"sent {line!r}, got back {got!r}")


def measure(executable: Path, connections: int) -> None:
    server = start_server(executable, connections, Path(tempfile.mkdtemp()))
    clients: list[socket.socket] = []
    try:
        pid = server.process.pid
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as warm_up:
            echo_once(warm_up, b"warm-up\n")
        time.sleep(0.2)  # Let the server see the warm-up client go.
        base_descriptors = open_descriptors(pid)
        before = settled_rss(pid)
        print(f"     0 connections: {before / 1024:7.1f} MiB resident", flush=True)

        checkpoints = {connections * k // 4 for k in (1, 2, 3, 4)}
        batch = 250  # Connect in batches, so the listen backlog never overflows.
        for n in range(1, connections + 1):
            clients.append(socket.create_connection(("127.0.0.1", server.port), timeout=10))
            if n % batch == 0 or n in checkpoints:
                wait_until_accepted(server, base_descriptors + n)
            if n in checkpoints:
                rss = settled_rss(pid)
                print(f"{n:6} connections: {rss / 1024:7.1f} MiB resident, "
                      f"{(rss - before) / n:5.2f} KiB per connection", flush=True)
        after = settled_rss(pid)
        # Still serving: the newest client gets its echo.
        echo_once(clients[-1], b"still there?\n")
        check_alive(server)
    finally:
        for client in clients:
            client.close()
        server.stop()
    grown = after - before
    print(f"{connections} idle connections: +{grown / 1024:.1f} MiB, "
          f"{grown / connections:.2f} KiB per connection")


def wait_until_accepted(server: RunningServer, descriptors: int) -> None:
    deadline = time.monotonic() + 60
    while open_descriptors(server.process.pid) < descriptors:
        check_alive(server)
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server holds {open_descriptors(server.process.pid)} "
                               f"descriptors after 60 s, expected {descriptors}")
        time.sleep(0.01)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build-dir", type=Path, default=ROOT / "build" / "release",
                        help="the CMake build folder holding chapters/ch09_robust_server")
    parser.add_argument("--connections", type=int, default=10_000,
                        help="idle connections to open (default 10000)")
    args = parser.parse_args()
    if args.connections < 1:
        print("--connections must be at least 1", file=sys.stderr)
        return 2
    executable = args.build_dir / "chapters" / "ch09_robust_server"
    if not executable.exists():
        print(f"{executable} is missing: build it first "
              "(cmake --preset release && cmake --build --preset release)", file=sys.stderr)
        return 2

    # Both processes need a descriptor per connection: the server (which
    # inherits our limit) and this one, which holds the client ends.
    limit = raise_descriptor_limit(args.connections + SPARE_DESCRIPTORS)
    connections = min(args.connections, limit - SPARE_DESCRIPTORS)
    if connections < args.connections:
        print(f"note: the descriptor limit is {limit}, so {connections} connections "
              f"instead of {args.connections}", file=sys.stderr)
    if connections < 1:
        print(f"the descriptor limit ({limit}) leaves no room for connections", file=sys.stderr)
        return 1
    try:
        measure(executable, connections)
    except (RuntimeError, OSError) as failure:
        print(f"idle_memory: {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
