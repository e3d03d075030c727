#!/usr/bin/env python3
"""Chapter 04's benchmark: every echo server, side by side, in one run.

    ./scripts/sandbox.sh bench            # builds the release preset, then runs this
    python3 bench/run_benchmarks.py --build-dir build/release [--rounds 5] [--quick]

Each round starts every server once, pinned to core 0 (taskset), and warms
it up to its steady state: runs of fresh connections from the load
generator, pinned to core 1, until two in a row cost the server the same
CPU per echo (asyncio's servers cost twice as much on the first connections
they serve; see chapter 04's page, "Warm up first"). Then every case
(connections x message size) is run against every server in turn, each with
new connections and a short warm-up of its own, with the server's CPU time
read from /proc. The order of the servers rotates every round, so a burst of
noise from a neighbour on this shared machine hits each of them in turn
instead of one. The report gives medians over the rounds, and each server's
ratio to the C epoll baseline *of the same round*: ratios measured side by
side survive a noisy machine far better than absolute figures do.

Servers: the C epoll baseline (bench/epoll_echo_server.c), chapters 01 and
02, each chapter's reference.py on asyncio's own loop and on uvloop (when
python3-uvloop is installed), and a Node.js `net` server (when `node` is).

Writes, into --out (docs/benchmarks by default):
  runs.csv       every single run
  warmup.csv     every warm-up window: how each server's cost settled
  summary.csv    medians per case and server, with the ratios to epoll
  machine.txt    what it ran on
  *.svg          charts (gnuplot), shown on the docs' benchmark page
and refreshes the results, warm-up and targets tables and the machine's
description in docs/benchmarks.md and docs/performance.md (between markers
such as <!-- results:begin --> and <!-- results:end -->). --quick runs
every server and case once, briefly, into a temporary folder: a smoke test.
--check-page verifies that the pages show what summary.csv, warmup.csv and
machine.txt hold.
"""
from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The pages that show the results, between <!-- NAME:begin --> and
# <!-- NAME:end --> markers (results, targets, machine).
PAGES = [ROOT / "docs" / "benchmarks.md", ROOT / "docs" / "performance.md"]
BASELINE = "epoll"


@dataclass
class Case:
    name: str
    connections: int
    size: int
    what: str


CASES = [
    Case("100x1KiB", 100, 1024, "many small messages: the per-message cost of the event loop"),
    Case("10x10KiB", 10, 10 * 1024, "medium messages: copies begin to count"),
    Case("10x100KiB", 10, 100 * 1024, "large messages: buffer sizes and copies dominate"),
    Case("1x1KiB", 1, 1024, "one connection: the latency floor, one round trip at a time"),
]


@dataclass
class Server:
    name: str
    label: str
    argv: list[str]
    prefix: str = ""  # What the server puts before each echo.
    env: dict[str, str] = field(default_factory=dict)


def find_python_with_uvloop() -> str | None:
    """The python3 that can import uvloop: this one, or Debian's own."""
    for candidate in (sys.executable, "/usr/bin/python3"):
        if candidate and Path(candidate).exists():
            probe = subprocess.run([candidate, "-c", "import uvloop"], capture_output=True)
            if probe.returncode == 0:
                return candidate
    return None


def servers_to_run(build: Path, notes: list[str]) -> list[Server]:
    chapters = build / "chapters"
    ch01_ref = str(ROOT / "chapters/01_protocol_echo_server/reference.py")
    ch02_ref = str(ROOT / "chapters/02_stream_echo_server/reference.py")
    servers = [
        Server(BASELINE, "C epoll baseline", [str(build / "bench/epoll_echo_server")]),
        Server("ch01", "chapter 01 (C++ protocol)",
               [str(chapters / "ch01_protocol_echo_server"), "--forever"], prefix="echo:"),
        Server("ch02", "chapter 02 (C++ streams)", [str(chapters / "ch02_stream_echo_server")]),
    ]
    # The same interpreter for asyncio and uvloop, so only the loop differs.
    python = find_python_with_uvloop()
    if python is None:
        python = sys.executable
        notes.append("uvloop not found (Debian: python3-uvloop): its servers were skipped")
    servers += [
        Server("ch01-asyncio", "ch01 reference.py, asyncio",
               [python, ch01_ref, "--forever"], prefix="echo:"),
        Server("ch02-asyncio", "ch02 reference.py, asyncio", [python, ch02_ref]),
    ]
    if find_python_with_uvloop():
        uvloop = str(ROOT / "bench/run_on_uvloop.py")
        servers += [
            Server("ch01-uvloop", "ch01 reference.py, uvloop",
                   [python, uvloop, ch01_ref, "--forever"], prefix="echo:"),
            Server("ch02-uvloop", "ch02 reference.py, uvloop", [python, uvloop, ch02_ref]),
        ]
    node = shutil.which("node")
    if node:
        servers.append(Server("node", "Node.js net", [node, str(ROOT / "bench/node_echo_server.js")]))
    else:
        notes.append("node not found: the Node.js server was skipped")
    return servers


def pinned(argv: list[str], core: int | None) -> list[str]:
    return ["taskset", "-c", str(core), *argv] if core is not None else argv


class RunningServer:
    """A server started on a free port of 127.0.0.1, its console in a file."""

    def __init__(self, server: Server, core: int | None, logs: Path):
        # stdout and stderr apart: the first line of stdout is the contract,
        # and a warning on stderr must not take its place.
        self.console = open(logs / f"{server.name}.log", "w+")
        self.errors = open(logs / f"{server.name}.err", "w+")
        argv = pinned([*server.argv, "--host", "127.0.0.1", "--port", "0", "--quiet"], core)
        self.process = subprocess.Popen(argv, stdout=self.console, stderr=self.errors,
                                        env={**os.environ, **server.env})
        self.port = self._wait_for_port(server.name)

    def _wait_for_port(self, name: str) -> int:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            self.console.seek(0)
            first = self.console.readline()
            if first.startswith("Serving on ") and first.endswith("\n"):
                return int(first.rsplit(":", 1)[1])
            if self.process.poll() is not None:
                break
            time.sleep(0.02)
        self.console.seek(0)
        self.errors.seek(0)
        said = (self.console.read()[-300:], self.errors.read()[-500:])
        status = self.process.poll()
        self.stop()
        raise RuntimeError(f"{name} did not start (exit status {status}); "
                           f"stdout {said[0]!r}, stderr {said[1]!r}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.console.close()
        self.errors.close()


def start(server: Server, core: int | None, logs: Path) -> RunningServer:
    """Starts `server`, trying a second time if the first start fails (once,
    in CI under the loaded sanitizer stage, a Python server failed to start,
    and it could not be reproduced); a second failure is reported with what
    the server printed."""
    try:
        return RunningServer(server, core, logs)
    except RuntimeError as failure:
        print(f"    {server.name}: {failure}; trying again", file=sys.stderr)
        return RunningServer(server, core, logs)


def drive(bench: Path, running: RunningServer, server: Server, case: Case, duration: float,
          warmup: float, core: int | None) -> dict:
    """One run of ch04_echo_bench against a running server, with connections
    of its own: `warmup` seconds unmeasured, then `duration` measured.
    Returns its JSON report."""
    argv = pinned([str(bench), "--host", "127.0.0.1", "--port", str(running.port),
                   "--connections", str(case.connections), "--size", str(case.size),
                   "--duration", str(duration), "--warmup", str(warmup),
                   "--server-pid", str(running.process.pid), "--json", "--quiet"], core)
    if server.prefix:
        argv += ["--prefix", server.prefix]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + warmup + 60)
    if done.returncode != 0:
        raise RuntimeError(f"ch04_echo_bench against {server.name} ({case.name}) failed: "
                           f"{done.stderr.strip()}")
    return json.loads(done.stdout)


def run_one(bench: Path, server: Server, case: Case, args, cores, logs: Path) -> dict:
    """A fresh server for one run (chapter 06's comparison measures this way:
    its C++ servers cost the same from their first connection on)."""
    running = start(server, cores[0], logs)
    try:
        return drive(bench, running, server, case, args.duration, args.warmup, cores[1])
    finally:
        running.stop()


def run_rounds(cases: list[Case], servers: list[Server], rounds: int, measure) -> list[dict]:
    """Every case, `rounds` times, every server in turn, each run on a fresh
    server (chapter 06's comparison; run_warm_rounds() below is this
    benchmark's); `measure(server, case)` returns ch04_echo_bench's JSON. The order rotates each round, so
    no server always goes first and a burst of noise from a neighbour on
    this shared machine hits each of them in turn."""
    runs = []
    for case in cases:
        for round_number in range(rounds):
            shift = round_number % len(servers)
            for server in servers[shift:] + servers[:shift]:
                result = measure(server, case)
                result.update(case=case.name, server=server.name, round=round_number)
                runs.append(result)
                print(f"    {case.name:10} round {round_number + 1}  {server.name:13} "
                      f"{result['requests_per_s']:>10.0f} requests/s  "
                      f"{result['server_cpu_us_per_echo']:7.2f} us CPU per echo", flush=True)
    return runs


# --- Warm-up to the steady state ----------------------------------------------
#
# Measured on this machine (chapter 04's page, "Warm up first"): asyncio's
# servers spend about twice the CPU per echo on the first connections they
# serve after starting, and keep that cost for as long as those connections
# last (36 us per echo after 4 s of warm-up on the same connections, 17 us
# on the next ones); Node's JIT needs a second or two. No warm-up *within* a
# run cures the first, so each server is started once per round, warmed with
# runs of fresh connections until its cost holds still, and every case is
# then measured against it, each with new connections.

# The warm-up load: the case where a server's per-message cost shows most.
WARMUP_LOAD = Case("warm-up", 100, 1024, "the warm-up load")


@dataclass
class SteadyRule:
    """When a server counts as warm: the CPU per echo of its last two warm-up
    windows (each a run with fresh connections) within `tolerance` of each
    other, after at least `min_windows`; at most `max_windows`, then it is
    measured anyway and warmup.csv says it never held still."""
    window: float = 0.5  # seconds; 50 ticks of /proc's 10 ms CPU clock
    tolerance: float = 0.05
    min_windows: int = 3  # the first window, always a fresh server's, never counts
    max_windows: int = 10


def is_steady(windows: list[dict], rule: SteadyRule) -> bool:
    if len(windows) < max(rule.min_windows, 2):
        return False
    before, last = (float(w["server_cpu_us_per_echo"]) for w in windows[-2:])
    return before > 0 and last > 0 and abs(last - before) <= rule.tolerance * min(before, last)


def warm_up(measure_window, rule: SteadyRule) -> list[dict]:
    """Calls `measure_window()` (one run of fresh connections, returning
    ch04_echo_bench's JSON) until the server's cost holds still; returns
    every window's figures, first to last."""
    windows: list[dict] = []
    while len(windows) < rule.max_windows:
        windows.append(measure_window())
        if is_steady(windows, rule):
            break
    return windows


def run_warm_rounds(cases: list[Case], servers: list[Server], rounds: int, start_server,
                    measure, rule: SteadyRule, unit: str = "echo") -> tuple[list[dict], list[dict]]:
    """Every round starts every server (`start_server(server)` returns a
    running one with a stop()), warms each (`measure(running, server, case,
    warm_up=True)` runs one warm-up window), then runs every case against
    every server in turn (`measure(..., warm_up=False)`), and stops them.
    Servers wait idle while the others are measured, which costs them
    nothing and keeps them warm. The order rotates each round, so no server
    always goes first and a burst of noise from a neighbour on this shared
    machine hits each of them in turn. `unit` names what the CPU is per in
    the progress lines (bench/redis_vs_mini.py measures requests, not
    echoes). Returns (runs, warm-up windows)."""
    runs, windows = [], []
    for round_number in range(rounds):
        shift = round_number % len(servers)
        order = servers[shift:] + servers[:shift]
        running = {}
        try:
            for server in order:
                running[server.name] = start_server(server)
                mine = warm_up(lambda: measure(running[server.name], server, WARMUP_LOAD,
                                               warm_up=True), rule)
                held = is_steady(mine, rule)
                for number, w in enumerate(mine):
                    windows.append({"round": round_number, "server": server.name,
                                    "window": number, "steady": held,
                                    "requests_per_s": w["requests_per_s"],
                                    "cpu_us_per_echo": w["server_cpu_us_per_echo"]})
                print(f"    round {round_number + 1}  {server.name:13} warm-up: " +
                      " ".join(f"{float(w['server_cpu_us_per_echo']):.1f}" for w in mine) +
                      f" us CPU per {unit}, {'steady' if held else 'NOT steady'}", flush=True)
            for case in cases:
                for server in order:
                    result = measure(running[server.name], server, case, warm_up=False)
                    result.update(case=case.name, server=server.name, round=round_number)
                    runs.append(result)
                    print(f"    {case.name:10} round {round_number + 1}  {server.name:13} "
                          f"{result['requests_per_s']:>10.0f} requests/s  "
                          f"{result['server_cpu_us_per_echo']:7.2f} us CPU per {unit}",
                          flush=True)
        finally:
            for one in running.values():
                one.stop()
    return runs, windows


# --- Summaries, files, charts ------------------------------------------------

SUMMARY_FIELDS = ["case", "server", "label", "rounds", "requests_per_s", "rps_vs_epoll",
                  "cpu_us_per_echo", "cpu_vs_epoll", "latency_p50_us", "latency_p99_us"]


def per_round_ratios(mine: list[dict], base: dict, key: str) -> list[float]:
    """Each run's `key` over the baseline's in the same round (`base` maps a
    round to the baseline's run). A run too short for one 10 ms clock tick
    of the baseline's CPU (--quick) has no ratio for that round."""
    return [float(r[key]) / float(base[r["round"]][key]) for r in mine
            if r["round"] in base and float(base[r["round"]][key]) > 0]


def summarise(runs: list[dict], servers: list[Server]) -> list[dict]:
    """Medians per (case, server); ratios are medians of the per-round
    ratios, each taken against the baseline of the same round."""
    rows = []
    for case in CASES:
        base = {r["round"]: r for r in runs if r["case"] == case.name and r["server"] == BASELINE}
        for server in servers:
            mine = [r for r in runs if r["case"] == case.name and r["server"] == server.name]
            if not mine:
                continue
            med = lambda key: statistics.median(float(r[key]) for r in mine)  # noqa: E731
            rps_ratio = per_round_ratios(mine, base, "requests_per_s")
            cpu_ratio = per_round_ratios(mine, base, "server_cpu_us_per_echo")
            rows.append({
                "case": case.name, "server": server.name, "label": server.label,
                "rounds": len(mine),
                "requests_per_s": f"{med('requests_per_s'):.0f}",
                "rps_vs_epoll": f"{statistics.median(rps_ratio):.3f}" if rps_ratio else "",
                "cpu_us_per_echo": f"{med('server_cpu_us_per_echo'):.3f}",
                "cpu_vs_epoll": f"{statistics.median(cpu_ratio):.3f}" if cpu_ratio else "",
                "latency_p50_us": f"{med('latency_p50_us'):.1f}",
                "latency_p99_us": f"{med('latency_p99_us'):.1f}",
            })
    return rows


WARMUP_FIELDS = ["round", "server", "window", "steady", "requests_per_s", "cpu_us_per_echo"]


def render_warmup(windows: list[dict], summary: list[dict]) -> str:
    """The warm-up table: per server, medians over the rounds of its first
    window (a fresh server's first connections), of the window where it held
    still, and how long that took."""
    label = {r["server"]: r["label"] for r in summary}
    lines = ["| server | first window | steady | first / steady | windows to steady | "
             "rounds steady |", "|---|---:|---:|---:|---:|---:|"]
    for server in label:
        mine = [w for w in windows if w["server"] == server]
        rounds = sorted({int(w["round"]) for w in mine})
        if not rounds:
            continue
        per_round = [[w for w in mine if int(w["round"]) == r] for r in rounds]
        first = statistics.median(float(ws[0]["cpu_us_per_echo"]) for ws in per_round)
        last = statistics.median(float(ws[-1]["cpu_us_per_echo"]) for ws in per_round)
        count = statistics.median(len(ws) for ws in per_round)
        held = sum(str(ws[-1]["steady"]) == "True" for ws in per_round)
        lines.append(f"| {label[server]} | {first:.2f} us | {last:.2f} us | "
                     f"{first / last if last else 0:.2f}x | {count:g} | {held} of {len(rounds)} |")
    return "\n".join(lines) + "\n"


def fenced(text: str) -> str:
    return "```text\n" + text.rstrip("\n") + "\n```\n"


def times(ratio: str) -> str:
    return f"{float(ratio):.2f}x" if ratio else "n/a"


def render_table(summary: list[dict]) -> str:
    """The results table of docs/benchmarks.md, from summary.csv's rows."""
    lines = []
    for case in CASES:
        rows = [r for r in summary if r["case"] == case.name]
        if not rows:
            continue
        lines += [f"**{case.name}** ({case.connections} connection"
                  f"{'s' if case.connections > 1 else ''} x {case.size} bytes: {case.what})", "",
                  "| server | requests/s | vs epoll | server CPU per echo | vs epoll "
                  "| latency p50 | latency p99 |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for r in rows:
            lines.append(f"| {r['label']} | {int(r['requests_per_s']):,} | "
                         f"{times(r['rps_vs_epoll'])} | {float(r['cpu_us_per_echo']):.2f} us | "
                         f"{times(r['cpu_vs_epoll'])} | {float(r['latency_p50_us']):.0f} us | "
                         f"{float(r['latency_p99_us']):.0f} us |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def replace_block(page_text: str, name: str, block: str) -> str:
    """Replaces what lies between <!-- NAME:begin --> and <!-- NAME:end -->."""
    begin_marker, end_marker = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    begin = page_text.index(begin_marker) + len(begin_marker)
    end = page_text.index(end_marker)
    return page_text[:begin] + "\n" + block + page_text[end:]


def shown_block(page_text: str, name: str) -> str:
    begin_marker, end_marker = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    begin = page_text.index(begin_marker) + len(begin_marker)
    return page_text[begin:page_text.index(end_marker)].strip("\n") + "\n"


# The targets of the chapter-04 issue, checked against the medians. "Ahead"
# means less server CPU per echo (the ratio to the baseline is lower).
TARGETS = [
    ("100x1KiB", "ch01", "within", 1.05, None),
    ("100x1KiB", "ch02", "within", 1.05, None),
    ("100x1KiB", "ch01", "ahead of", None, "ch01-uvloop"),
    ("100x1KiB", "ch02", "ahead of", None, "ch01-uvloop"),
    ("100x1KiB", "ch01", "ahead of", None, "node"),
    ("100x1KiB", "ch02", "ahead of", None, "node"),
    ("10x10KiB", "ch01", "ahead of", None, "ch01-uvloop"),
    ("10x10KiB", "ch02", "ahead of", None, "ch01-uvloop"),
    ("10x100KiB", "ch01", "ahead of", None, "ch01-uvloop"),
    ("10x100KiB", "ch02", "ahead of", None, "ch01-uvloop"),
]


def render_targets(summary: list[dict]) -> str:
    """The targets table: each target, the measured ratios, met or not."""
    ratio = {(r["case"], r["server"]): float(r["cpu_vs_epoll"]) for r in summary
             if r["cpu_vs_epoll"]}
    label = {r["server"]: r["label"] for r in summary}
    lines = ["| case | target (server CPU per echo) | measured | met |", "|---|---|---|---|"]
    for case, server, kind, limit, other in TARGETS:
        mine = ratio.get((case, server))
        if mine is None or (other and (case, other) not in ratio):
            continue
        if kind == "within":
            goal = f"{label[server]}: within {limit:.2f}x of the epoll baseline"
            measured, met = f"{mine:.2f}x", mine <= limit
        else:
            theirs = ratio[(case, other)]
            goal = f"{label[server]}: ahead of {label[other]}"
            measured, met = f"{mine:.2f}x against {theirs:.2f}x", mine < theirs
        lines.append(f"| {case} | {goal} | {measured} | {'yes' if met else '**no**'} |")
    return "\n".join(lines) + "\n"


def first_line(argv: list[str]) -> str:
    """The first line a program prints (its version, say), or "not found"."""
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "not found"


def machine_lines() -> list[str]:
    """The date and the machine: CPU, kernel, system, compiler (every
    benchmark's description starts with these)."""
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    distro = "unknown"
    if Path("/etc/os-release").exists():
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                distro = line.split("=", 1)[1].strip('"')
    return [
        f"date: {datetime.date.today().isoformat()}",
        f"cpu: {cpu}, {os.cpu_count()} cores (a shared virtual machine)",
        f"kernel: Linux {platform.release()}",
        f"system: {distro}",
        f"compiler: {first_line(['c++', '--version'])}",
    ]


def describe_machine(python: str | None, notes: list[str], args, rule: SteadyRule) -> str:
    lines = machine_lines() + [
        f"python: {first_line([python or sys.executable, '--version'])}",
        f"uvloop: {first_line([python, '-c', 'import uvloop; print(uvloop.__version__)']) if python else 'not found'}",
        f"node: {first_line(['node', '--version']) if shutil.which('node') else 'not found'}",
        f"pinning: servers on core 0, load generator on core 1"
        if (os.cpu_count() or 1) >= 2 else "pinning: none (one core)",
        f"runs: {args.rounds} rounds, {args.warmup} s warm-up + {args.duration} s measured each",
        f"warm-up: each server started once per round and driven with {WARMUP_LOAD.connections} "
        f"x {WARMUP_LOAD.size} bytes in {rule.window} s windows, new connections each, until two "
        f"windows in a row agreed within {rule.tolerance:.0%} in CPU per echo (at least "
        f"{rule.min_windows}, at most {rule.max_windows} windows); then every case against it",
    ]
    return "\n".join(lines + [f"note: {n}" for n in notes]) + "\n"


def grouped_bars(out_file: Path, title: str, ylabel: str, cases: list[str],
                 series: dict[str, dict[str, str]], lines: tuple[tuple[float, str], ...] = (
                     (1.0, "gray30"),)) -> None:
    """A grouped bar chart via gnuplot, the look of every chart of the docs:
    one group per case, one bar per series (series[label][case] is the
    value, as text; a missing one leaves a gap), and a dashed horizontal
    line at each (y, colour) of `lines` (1.0: the reference)."""
    data = out_file.with_suffix(".dat")
    labels = list(series)
    with open(data, "w") as f:
        f.write("case\t" + "\t".join(f'"{s}"' for s in labels) + "\n")
        for case in cases:
            f.write(case + "\t" + "\t".join(series[s].get(case) or "NaN" for s in labels) + "\n")
    plots = ", ".join(
        f"'{data}' using {i + 2}{':xtic(1)' if i == 0 else ''} title columnheader({i + 2})"
        for i in range(len(labels)))
    # Labels are shown as written: no gnuplot markup (ch13_mini_redis's
    # underscores would become subscripts).
    arrows = "\n".join(f"set arrow from graph 0, first {y} to graph 1, first {y} nohead "
                       f"dashtype 2 lc rgb '{colour}'" for y, colour in lines)
    script = f"""
set terminal svg size 960,440 dynamic font 'sans,12' background rgb 'white'
set termoption noenhanced
set output '{out_file}'
set title '{title}'
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.9 border rgb 'black'
set boxwidth 0.9
set key outside right top vertical
set grid ytics
set yrange [0:*]
set ylabel '{ylabel}'
set xtics nomirror
{arrows}
plot {plots}
"""
    try:
        subprocess.run(["gnuplot"], input=script, text=True, check=True)
    finally:
        data.unlink()


def write_charts(summary: list[dict], out: Path) -> list[str]:
    """Two grouped bar charts via gnuplot: CPU per echo and requests/s,
    each as a ratio to the epoll baseline. Returns the files written."""
    if shutil.which("gnuplot") is None:
        print("gnuplot not found (Debian: gnuplot-nox): no charts", file=sys.stderr)
        return []
    servers = list(dict.fromkeys(r["label"] for r in summary))
    cases = [c.name for c in CASES if any(r["case"] == c.name for r in summary)]
    written = []
    for key, filename, title in [
        ("cpu_vs_epoll", "cpu_per_echo.svg",
         "Server CPU time per echo, as a multiple of the C epoll baseline (lower is better)"),
        ("rps_vs_epoll", "requests_per_second.svg",
         "Requests per second, as a multiple of the C epoll baseline (higher is better)"),
    ]:
        series = {s: {r["case"]: r[key] for r in summary if r["label"] == s} for s in servers}
        grouped_bars(out / filename, title, "x epoll baseline", cases, series)
        written.append(filename)
    return written


def page_blocks(results: Path) -> dict[str, str]:
    """What the pages' marked blocks must hold, from summary.csv and machine.txt."""
    with open(results / "summary.csv") as f:
        summary = list(csv.DictReader(f))
    with open(results / "warmup.csv") as f:
        windows = list(csv.DictReader(f))
    return {"results": render_table(summary), "targets": render_targets(summary),
            "warmup": render_warmup(windows, summary),
            "machine": fenced((results / "machine.txt").read_text())}


def update_pages(results: Path) -> None:
    """Rewrites the marked blocks of the pages from summary.csv and machine.txt."""
    blocks = page_blocks(results)
    for page in PAGES:
        text = page.read_text()
        for name, block in blocks.items():
            if f"<!-- {name}:begin -->" in text:
                text = replace_block(text, name, block)
        page.write_text(text)
    print(f"==> Updated the results in {', '.join(str(p.relative_to(ROOT)) for p in PAGES)}")


def main() -> int:
    global CASES  # --cases narrows the list every function below uses.
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build-dir", type=Path, default=ROOT / "build" / "release",
                        help="where the release preset built the programs")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=3.0, help="seconds measured per run")
    parser.add_argument("--warmup", type=float, default=0.5,
                        help="seconds of each run left unmeasured (its new connections settle); "
                             "servers are also warmed to a steady state once per round")
    parser.add_argument("--warmup-max", type=float, default=5.0,
                        help="most seconds a server is warmed before being measured anyway")
    parser.add_argument("--cases", default=",".join(c.name for c in CASES))
    parser.add_argument("--servers", default="", help="comma-separated names (default: all)")
    parser.add_argument("--extra-server", action="append", default=[], metavar="NAME=PROGRAM",
                        help="also measure PROGRAM (run with no arguments, echoing as chapter "
                             "02 does) under NAME, e.g. a chapter 02 built from another "
                             "commit, side by side with the others; may be repeated")
    parser.add_argument("--quick", action="store_true",
                        help="one short round into a temporary folder; the page is left alone")
    parser.add_argument("--check-page", action="store_true",
                        help="only check that the pages show summary.csv and machine.txt")
    parser.add_argument("--update-pages", action="store_true",
                        help="only rewrite the pages' result blocks from summary.csv")
    args = parser.parse_args()

    if args.update_pages:
        update_pages(args.out)
        return 0

    if args.check_page:
        expected = page_blocks(args.out)
        failures = []
        for page in PAGES:
            text = page.read_text()
            for name, block in expected.items():
                if f"<!-- {name}:begin -->" in text and shown_block(text, name) != block:
                    failures.append(f"{page.relative_to(ROOT)}: the {name} block does not show "
                                    f"{args.out.name}/; rerun the benchmark, or paste:\n{block}")
        if failures:
            print("\n".join(failures), file=sys.stderr)
            return 1
        print("the pages show summary.csv, warmup.csv and machine.txt")
        return 0

    rule = SteadyRule(max_windows=max(1, round(args.warmup_max / SteadyRule.window)))
    if args.quick:
        # Two short warm-up windows: enough to run the warm-up's code, not
        # to reach a steady state.
        args.rounds, args.duration, args.warmup = 1, 0.3, 0.1
        rule = SteadyRule(window=0.1, min_windows=2, max_windows=2)
        args.out = Path(tempfile.mkdtemp(prefix="asio-sandbox-bench-"))
    wanted_cases = set(args.cases.split(","))
    CASES = [c for c in CASES if c.name in wanted_cases]

    bench = args.build_dir / "chapters" / "ch04_echo_bench"
    if not bench.exists():
        print(f"{bench} is missing: build the release preset first "
              "(cmake --preset release && cmake --build --preset release)", file=sys.stderr)
        return 2
    notes: list[str] = []
    servers = servers_to_run(args.build_dir, notes)
    if args.servers:
        wanted = set(args.servers.split(",")) | {BASELINE}
        servers = [s for s in servers if s.name in wanted]
    for extra in args.extra_server:
        name, _, program = extra.partition("=")
        if not name or not program:
            parser.error(f"--extra-server wants NAME=PROGRAM, not {extra!r}")
        servers.append(Server(name, f"{name} ({program})", [program]))
    cores = (0, 1) if (os.cpu_count() or 1) >= 2 and shutil.which("taskset") else (None, None)
    args.out.mkdir(parents=True, exist_ok=True)
    logs = Path(tempfile.mkdtemp(prefix="asio-sandbox-bench-logs-"))

    total = len(CASES) * args.rounds * len(servers)
    print(f"==> {len(servers)} servers x {len(CASES)} cases x {args.rounds} rounds = {total} runs "
          f"of {args.warmup} + {args.duration} s, each server warmed once per round; "
          f"results in {args.out}")
    def measure(running: RunningServer, server: Server, case: Case, warm_up: bool) -> dict:
        if warm_up:  # fresh connections, every second of them measured
            return drive(bench, running, server, case, rule.window, 0, cores[1])
        return drive(bench, running, server, case, args.duration, args.warmup, cores[1])

    runs, windows = run_warm_rounds(CASES, servers, args.rounds,
                                    lambda server: start(server, cores[0], logs), measure, rule)

    with open(args.out / "warmup.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=WARMUP_FIELDS)
        writer.writeheader()
        writer.writerows(windows)
    with open(args.out / "runs.csv", "w", newline="") as f:
        keys = ["case", "server", "round"] + [k for k in runs[0] if k not in
                                              ("case", "server", "round", "host", "port",
                                               "server_pid")]
        writer = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(runs)
    summary = summarise(runs, servers)
    with open(args.out / "summary.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=SUMMARY_FIELDS)
        writer.writeheader()
        writer.writerows(summary)
    (args.out / "machine.txt").write_text(
        describe_machine(find_python_with_uvloop(), notes, args, rule))
    charts = write_charts(summary, args.out)

    print("\n" + render_warmup(windows, summary) + "\n" + render_table(summary) + "\n" +
          render_targets(summary))
    if not args.quick and args.out.resolve() == (ROOT / "docs" / "benchmarks").resolve():
        update_pages(args.out)
    print(f"==> Wrote runs.csv, summary.csv, warmup.csv, machine.txt{''.join(', ' + c for c in charts)} "
          f"in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
