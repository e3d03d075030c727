#!/usr/bin/env python3
"""Chapter 06's comparison: a thread pool with strands (chapter 05) against
an io_context per thread (chapter 06), at 1 and 2 threads, side by side.

    ./scripts/sandbox.sh bench            # runs this after run_benchmarks.py
    python3 bench/compare_threads.py --build-dir build/release [--rounds 5] [--quick]

Each round starts every server in turn (order rotated per round) and drives
it with chapter 04's ch04_echo_bench, one load-generator thread. Chapter 02
(one thread, no strands) runs too: the reference every ratio is taken
against, in the same round. The load generator is pinned to core 1; a
one-thread server to core 0 (as in chapter 04's benchmark), a two-thread
server to both cores, so on a two-core machine it shares core 1 with the
load generator. (Unpinned, the one-thread servers also wander onto the
generator's core, and their CPU per echo grows several times: the
scheduler, not the server, is then measured.)

The compared figure is efficiency: the server's CPU time per echo. The
load generator saturates one core before a fast server does, so requests/s
say more about the generator than about the server (chapter 04's page).

Writes docs/benchmarks/threads.csv (medians) and threads_runs.csv (every
run), and the table between <!-- threads:begin --> and <!-- threads:end -->
in chapter 06's page. --check-page verifies the page shows threads.csv;
--quick runs everything once, briefly, into a temporary folder.
"""
from __future__ import annotations

import argparse
import csv
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from run_benchmarks import (ROOT, Case, Server, fenced, replace_block, run_one, run_rounds,
                            shown_block, times)

PAGE = ROOT / "chapters" / "06_context_per_thread_server" / "README.md"
REFERENCE = "ch02"
CASES = [
    Case("100x1KiB", 100, 1024, "many small messages: the per-message cost"),
    Case("10x10KiB", 10, 10 * 1024, "fewer, larger messages"),
]
FIELDS = ["case", "server", "label", "threads", "rounds", "requests_per_s", "cpu_us_per_echo",
          "cpu_vs_ch02", "server_cores", "latency_p99_us"]


def servers_to_run(build: Path) -> list[tuple[Server, int]]:
    chapters = build / "chapters"
    servers = [(Server(REFERENCE, "chapter 02: one thread, no strands",
                       [str(chapters / "ch02_stream_echo_server")]), 1)]
    for threads in (1, 2):
        servers.append((Server(f"ch05-{threads}t", "chapter 05: thread pool + strands",
                               [str(chapters / "ch05_thread_pool_server"),
                                "--threads", str(threads)]), threads))
        servers.append((Server(f"ch06-{threads}t", "chapter 06: io_context per thread",
                               [str(chapters / "ch06_context_per_thread_server"),
                                "--threads", str(threads)]), threads))
    return servers


def summarise(runs: list[dict], servers: list[tuple[Server, int]]) -> list[dict]:
    rows = []
    for case in CASES:
        base = {r["round"]: r for r in runs if r["case"] == case.name and r["server"] == REFERENCE}
        for server, threads in servers:
            mine = [r for r in runs if r["case"] == case.name and r["server"] == server.name]
            med = lambda key: statistics.median(float(r[key]) for r in mine)  # noqa: E731
            ratios = [float(r["server_cpu_us_per_echo"]) /
                      float(base[r["round"]]["server_cpu_us_per_echo"])
                      for r in mine if r["round"] in base
                      and float(base[r["round"]]["server_cpu_us_per_echo"]) > 0]
            rows.append({
                "case": case.name, "server": server.name, "label": server.label,
                "threads": threads, "rounds": len(mine),
                "requests_per_s": f"{med('requests_per_s'):.0f}",
                "cpu_us_per_echo": f"{med('server_cpu_us_per_echo'):.3f}",
                "cpu_vs_ch02": f"{statistics.median(ratios):.3f}" if ratios else "",
                # CPU seconds per second of wall time: how many cores it kept busy.
                "server_cores": f"{statistics.median(float(r['server_cpu_s']) / float(r['elapsed_s']) for r in mine):.2f}",
                "latency_p99_us": f"{med('latency_p99_us'):.1f}",
            })
    return rows


def render(rows: list[dict]) -> str:
    lines = []
    for case in CASES:
        mine = [r for r in rows if r["case"] == case.name]
        if not mine:
            continue
        lines += [f"**{case.name}** ({case.connections} connections x {case.size} bytes: "
                  f"{case.what})", "",
                  "| server | threads | requests/s | server CPU per echo | vs chapter 02 "
                  "| cores busy | latency p99 |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for r in mine:
            lines.append(f"| {r['label']} | {r['threads']} | {int(r['requests_per_s']):,} | "
                         f"{float(r['cpu_us_per_echo']):.2f} us | {times(r['cpu_vs_ch02'])} | "
                         f"{float(r['server_cores']):.2f} | {float(r['latency_p99_us']):.0f} us |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def page_block(results: Path) -> str:
    with open(results / "threads.csv") as f:
        rows = list(csv.DictReader(f))
    note = (results / "threads_machine.txt").read_text()
    return render(rows) + "\n" + fenced(note)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build-dir", type=Path, default=ROOT / "build" / "release")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=2.0)
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--check-page", action="store_true")
    args = parser.parse_args()

    if args.check_page:
        expected = page_block(args.out)
        if shown_block(PAGE.read_text(), "threads") != expected:
            print(f"{PAGE.relative_to(ROOT)}: the threads block does not show threads.csv; "
                  f"rerun bench/compare_threads.py, or paste:\n{expected}", file=sys.stderr)
            return 1
        print("chapter 06's page shows threads.csv")
        return 0

    if args.quick:
        args.rounds, args.duration, args.warmup = 1, 0.3, 0.1
        args.out = Path(tempfile.mkdtemp(prefix="asio-sandbox-threads-"))
    bench = args.build_dir / "chapters" / "ch04_echo_bench"
    if not bench.exists():
        print(f"{bench} is missing: build the release preset first", file=sys.stderr)
        return 2
    servers = servers_to_run(args.build_dir)
    pinning = (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None
    logs = Path(tempfile.mkdtemp(prefix="asio-sandbox-threads-logs-"))
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"==> {len(servers)} servers x {len(CASES)} cases x {args.rounds} rounds "
          f"of {args.warmup} + {args.duration} s; results in {args.out}")
    threads_of = {server.name: threads for server, threads in servers}

    def measure(server: Server, case: Case) -> dict:
        one_thread = threads_of[server.name] == 1
        cores = ("0" if one_thread else "0,1", "1") if pinning else (None, None)
        return run_one(bench, server, case, args, cores, logs)

    runs = run_rounds(CASES, [server for server, _ in servers], args.rounds, measure)

    with open(args.out / "threads_runs.csv", "w", newline="") as f:
        keys = ["case", "server", "round", "requests_per_s", "server_cpu_us_per_echo",
                "server_cpu_s", "elapsed_s", "latency_p50_us", "latency_p99_us", "client_cpu_s"]
        writer = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(runs)
    rows = summarise(runs, servers)
    with open(args.out / "threads.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    (args.out / "threads_machine.txt").write_text(
        f"{args.rounds} rounds x {args.duration} s (after {args.warmup} s warm-up) per server and "
        f"case; medians; ratios per round against chapter 02.\n"
        f"ch04_echo_bench with 1 thread on core 1; one-thread servers on core 0, two-thread "
        f"servers on cores 0 and 1" + ("" if pinning else " (taskset missing: nothing pinned)") +
        "; the machine of the benchmarks page.\n")
    print("\n" + render(rows))
    if not args.quick and args.out.resolve() == (ROOT / "docs" / "benchmarks").resolve():
        PAGE.write_text(replace_block(PAGE.read_text(), "threads", page_block(args.out)))
        print(f"==> Updated {PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
