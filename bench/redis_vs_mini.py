#!/usr/bin/env python3
"""Chapter 13's benchmark: ch13_mini_redis against the real redis-server, side by side.

    ./scripts/sandbox.sh redis-bench      # builds ch13_mini_redis (release), then runs this
    python3 bench/redis_vs_mini.py --build-dir build/release [--rounds 5] [--quick]

The load is Redis's own: redis-benchmark, 50 connections, SET then GET, each
connection with one request in flight (-P 1) and then with 16 (-P 16). The
servers are ch13_mini_redis (one thread, as Redis runs its commands) and
Debian's redis-server with persistence off (--save '' --appendonly no), so
both do the same work: parse, look up or store in memory, reply.

Each round starts both servers pinned to core 0 (taskset) and warms each up
with runs of redis-benchmark until two in a row cost the server the same CPU
per request (chapter 04's rule, shared with bench/run_benchmarks.py); then
every case runs against each server in turn, mini, redis, mini, redis, with
redis-benchmark pinned to core 1. The order rotates each round. The report
gives medians over the rounds, and mini / redis is the median of the ratios
*of the same round*: a neighbour's noise on this shared machine then slows
both sides of a ratio, not one. The server's CPU per request is its utime +
stime from /proc/PID/stat, read before and after each run, divided by the
requests: redis-benchmark's requests/s say what the pair achieved, the CPU
what the server paid for it.

Each case is its own redis-benchmark run (-t set, then -t get), so each has
its own CPU figure; GET runs after SET and finds the key.

Targets (issue 16): at least 0.90x redis-server's requests/s in every case.
With --threads N (default 2, 0 for none), ch13_mini_redis --threads N runs
too when the build has that option, unpinned: an extra row that shows what
a second thread does on a machine whose load generator needs a core too. It
is not part of the target.

Writes, into --out (docs/benchmarks by default):
  redis_runs.csv                   every run, the warm-up windows included
  redis_summary.csv                medians per case and server, ratios to redis-server
  redis_machine.txt                what it ran on
  redis_requests_per_second.svg    the chart (gnuplot)
and rewrites the blocks between <!-- redis-results:begin --> / :end and
<!-- redis-machine:begin --> / :end in chapter 13's page (when it has them).
--quick runs one short round into a temporary folder, the page untouched:
a smoke test. --check-page verifies that the page shows what the CSV holds.
Exits with 77 (a skip, for CTest) when redis-server or redis-benchmark is
not installed (Debian: redis-server, redis-tools).
"""
from __future__ import annotations

import argparse
import csv
import io
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from run_benchmarks import (ROOT, Case, Server, SteadyRule, fenced, first_line, grouped_bars,
                            machine_lines, per_round_ratios, pinned, replace_block, run_warm_rounds, shown_block,
                            start, times)

PAGE = ROOT / "chapters" / "13_mini_redis" / "README.md"
BLOCKS = ("redis-results", "redis-machine")
CHART = "redis_requests_per_second.svg"
MINI, REDIS = "mini", "redis"
TARGET = 0.90  # of redis-server's requests/s, in every case (issue 16)
CLIENTS = 50
# -P 16 is about 16 times faster: that many more requests keep its runs as
# long as the -P 1 runs, long enough for /proc's 10 ms CPU clock.
PIPELINED_FACTOR = 10
SKIP = 77  # CTest's SKIP_RETURN_CODE for this test


@dataclass
class RedisCase(Case):
    """One redis-benchmark test: `command` (set, get) with `pipeline`
    requests in flight per connection. `name` has no spaces (gnuplot reads
    it as one word)."""
    command: str = "set"
    pipeline: int = 1

    @property
    def label(self) -> str:
        return f"{self.command.upper()} -P {self.pipeline}"


CASES = [
    RedisCase("SET-P1", CLIENTS, 3, "one request in flight per connection", "set", 1),
    RedisCase("GET-P1", CLIENTS, 3, "one request in flight per connection", "get", 1),
    RedisCase("SET-P16", CLIENTS, 3, "16 requests in flight per connection", "set", 16),
    RedisCase("GET-P16", CLIENTS, 3, "16 requests in flight per connection", "get", 16),
]
# The warm-up load: both commands, pipelined, so the servers' buffers grow
# to their batch size and every code path of the cases has run once.
WARMUP = RedisCase("warm-up", CLIENTS, 3, "the warm-up load", "set,get", 16)


# --- Parsing what the tools print -----------------------------------------------

def parse_benchmark_csv(text: str) -> dict[str, dict[str, float]]:
    """redis-benchmark --csv's output, per test ("SET", "GET"): its figures
    as numbers. 7.0 prints a header, then one row per test:
        "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms",...
        "SET","88028.17","0.303","0.096","0.287",...
    (6.x printed only "SET","88028.17": read as rps alone.) Anything else
    is an error, not a zero: a figure that cannot be read must not become
    one that looks measured."""
    rows = [row for row in csv.reader(io.StringIO(text)) if row]
    if not rows:
        raise ValueError("redis-benchmark printed nothing")
    header = ["test", "rps"]
    if rows[0][0] == "test":
        header, rows = rows[0], rows[1:]
        if "rps" not in header:
            raise ValueError(f"redis-benchmark's CSV header has no rps: {header}")
    results = {}
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"redis-benchmark printed {row}, not the {len(header)} fields "
                             f"of {header}")
        try:
            results[row[0]] = {key: float(value) for key, value in zip(header[1:], row[1:])}
        except ValueError:
            raise ValueError(f"redis-benchmark printed a figure that is not a number: {row}")
    if not results:
        raise ValueError(f"redis-benchmark printed a header and no results: {text!r}")
    return results


def cpu_ticks(stat: str) -> int:
    """utime + stime, in clock ticks, from the text of /proc/PID/stat. They
    are fields 14 and 15; field 2, the program's name in parentheses, may
    itself hold spaces and parentheses, so count from the last ')'. They
    cover every thread of the process (a --threads 2 server included)."""
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])  # fields[0] is field 3


def cpu_seconds(pid: int) -> float:
    return cpu_ticks(Path(f"/proc/{pid}/stat").read_text()) / os.sysconf("SC_CLK_TCK")


# --- The servers ------------------------------------------------------------------

def free_port() -> int:
    """A port free a moment ago (redis-server cannot be told port 0 and
    asked which one it got; a lost race is retried by RunningRedis)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")  # an inline command: both servers take it
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RunningRedis:
    """redis-server on a free port of 127.0.0.1, in the foreground, saving
    nothing: no RDB snapshots (--save ''), no append-only file. Its log (the
    warnings only) goes to a file in `logs`, and so would any file it wrote
    (--dir)."""

    def __init__(self, program: str, core: int | None, logs: Path):
        self.log = open(logs / "redis-server.log", "a")
        for _ in range(3):
            self.port = free_port()
            argv = pinned([program, "--bind", "127.0.0.1", "--port", str(self.port),
                           "--save", "", "--appendonly", "no", "--daemonize", "no",
                           "--loglevel", "warning", "--dir", str(logs)], core)
            self.process = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.process.poll() is None:
                if answers_ping(self.port):
                    return
                time.sleep(0.02)
            self._end()
        self.log.close()
        raise RuntimeError(f"redis-server did not start; see {logs / 'redis-server.log'}")

    def _end(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # SIGTERM: Redis shuts down cleanly
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def stop(self) -> None:
        self._end()
        self.log.close()


def supports_threads(program: Path) -> bool:
    """Whether this build of ch13_mini_redis has --threads (the option came
    after the single-threaded core)."""
    done = subprocess.run([str(program), "--help"], capture_output=True, text=True, timeout=10)
    return "--threads" in done.stdout


def servers_to_run(mini: Path, redis_server: str, threads: int,
                   notes: list[str]) -> list[Server]:
    version = first_line([redis_server, "--version"]).split()
    redis_version = next((w[2:] for w in version if w.startswith("v=")), "")
    servers = [Server(MINI, "ch13_mini_redis", [str(mini)]),
               Server(REDIS, f"redis-server {redis_version}".strip(), [redis_server])]
    if threads > 1:
        if supports_threads(mini):
            servers.append(Server(f"mini-{threads}t",
                                  f"ch13_mini_redis --threads {threads}, unpinned",
                                  [str(mini), "--threads", str(threads)]))
        else:
            notes.append(f"this build of ch13_mini_redis has no --threads: the --threads "
                         f"{threads} row was skipped")
    return servers


# --- One run ----------------------------------------------------------------------

def requests_for(case: RedisCase, requests: int) -> int:
    return requests * (PIPELINED_FACTOR if case.pipeline > 1 else 1)


def warmup_requests(requests: int) -> int:
    """Per command of a warm-up run: as many as half a -P 16 run, so both
    commands together last about as long, some 150 ticks of /proc's CPU
    clock (a 5% tolerance needs more than 20)."""
    return requests * PIPELINED_FACTOR // 2


def measured_seconds(results: dict[str, dict[str, float]], tests: list[str], requests: int,
                     elapsed: float) -> float:
    """How long redis-benchmark's `tests` took by its own figures (several
    tests run one after the other: their times add up), checked against the
    wall-clock time of the whole run: its tests cannot have lasted longer
    than the program did. A figure read from the wrong column fails here."""
    if any(results[t]["rps"] <= 0 for t in tests):
        raise ValueError(f"redis-benchmark reports no requests/s: {results}")
    seconds = sum(requests / results[t]["rps"] for t in tests)
    if seconds > elapsed * 1.05 + 0.01:  # a little slack for the two clocks
        raise ValueError(f"redis-benchmark's figures say its tests took {seconds:.3f} s, but "
                         f"the whole run took {elapsed:.3f} s: were they misread? {results}")
    return seconds


def run_benchmark(benchmark: str, pid: int, port: int, case: RedisCase, requests: int,
                  core: int | None) -> dict:
    """One redis-benchmark run of `case` against the server `pid` listening
    on `port`, `requests` per command; the server's CPU read around it.
    Returns the run's figures (a dict, a row of redis_runs.csv)."""
    argv = pinned([benchmark, "-h", "127.0.0.1", "-p", str(port), "-c", str(case.connections),
                   "-n", str(requests), "-d", str(case.size), "-t", case.command,
                   "-P", str(case.pipeline), "--csv"], core)
    cpu_before, started = cpu_seconds(pid), time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60 + requests / 2000)
    elapsed, cpu = time.monotonic() - started, cpu_seconds(pid) - cpu_before
    if done.returncode != 0:
        raise RuntimeError(f"redis-benchmark failed (status {done.returncode}): "
                           f"{done.stderr.strip() or done.stdout.strip()}")
    results = parse_benchmark_csv(done.stdout)
    tests = [command.upper() for command in case.command.split(",")]
    missing = [t for t in tests if t not in results]
    if missing:
        raise RuntimeError(f"redis-benchmark gave no figure for {missing}: {done.stdout!r}")
    total = requests * len(tests)
    seconds = measured_seconds(results, tests, requests, elapsed)
    cpu_us = cpu * 1e6 / total
    return {
        "requests": total,
        "pipeline": case.pipeline,
        "requests_per_s": total / seconds,
        "elapsed_s": round(elapsed, 3),
        "server_cpu_s": round(cpu, 3),
        # Named as run_warm_rounds() reads it; redis_runs.csv calls it
        # cpu_us_per_request.
        "server_cpu_us_per_echo": round(cpu_us, 4),
        "server_cores": round(cpu / elapsed, 3) if elapsed else 0.0,
        "latency_p50_ms": statistics.median(results[t].get("p50_latency_ms", 0) for t in tests),
        "latency_p99_ms": statistics.median(results[t].get("p99_latency_ms", 0) for t in tests),
    }


# --- Summaries, tables, the page ------------------------------------------------

RUN_FIELDS = ["case", "server", "round", "requests", "pipeline", "requests_per_s", "elapsed_s",
              "server_cpu_s", "cpu_us_per_request", "server_cores", "latency_p50_ms",
              "latency_p99_ms"]
SUMMARY_FIELDS = ["case", "server", "label", "rounds", "requests_per_s", "vs_redis",
                  "cpu_us_per_request", "cpu_vs_redis", "server_cores", "latency_p50_ms",
                  "latency_p99_ms"]


def summarise(runs: list[dict], servers: list[Server], cases: list[RedisCase]) -> list[dict]:
    """Medians per (case, server); each ratio is the median of the
    per-round ratios to redis-server *of the same round*."""
    rows = []
    for case in cases:
        base = {r["round"]: r for r in runs if r["case"] == case.name and r["server"] == REDIS}
        for server in servers:
            mine = [r for r in runs if r["case"] == case.name and r["server"] == server.name]
            if not mine:
                continue
            med = lambda key: statistics.median(float(r[key]) for r in mine)  # noqa: E731
            rps = per_round_ratios(mine, base, "requests_per_s")
            cpu = per_round_ratios(mine, base, "cpu_us_per_request")
            rows.append({
                "case": case.name, "server": server.name, "label": server.label,
                "rounds": len(mine),
                "requests_per_s": f"{med('requests_per_s'):.0f}",
                "vs_redis": f"{statistics.median(rps):.3f}" if rps else "",
                "cpu_us_per_request": f"{med('cpu_us_per_request'):.3f}",
                "cpu_vs_redis": f"{statistics.median(cpu):.3f}" if cpu else "",
                "server_cores": f"{med('server_cores'):.2f}",
                "latency_p50_ms": f"{med('latency_p50_ms'):.3f}",
                "latency_p99_ms": f"{med('latency_p99_ms'):.3f}",
            })
    return rows


def label_of(case_name: str) -> str:
    return next((c.label for c in CASES if c.name == case_name), case_name)


def target_misses(summary: list[dict]) -> list[tuple[str, float]]:
    """The cases where ch13_mini_redis (one thread, pinned) made less than
    TARGET x redis-server's requests/s, with the ratio. A case without a
    ratio counts as missed: nothing shows it was met."""
    return [(r["case"], float(r["vs_redis"] or 0)) for r in summary
            if r["server"] == MINI and float(r["vs_redis"] or 0) < TARGET]


def render_results(summary: list[dict]) -> str:
    """The results block of chapter 13's page: one row per case, the two
    servers side by side; whether the target was met; the --threads row."""
    by = {(r["case"], r["server"]): r for r in summary}
    cases = [c.name for c in CASES if (c.name, MINI) in by and (c.name, REDIS) in by]
    redis_label = by[(cases[0], REDIS)]["label"] if cases else "redis-server"
    lines = [f"| case | requests/s: {redis_label} | ch13_mini_redis | mini / redis "
             f"| target {TARGET:.2f}x | server CPU per request: redis | mini | CPU mini / redis |",
             "|---|---:|---:|---:|---|---:|---:|---:|"]
    for case in cases:
        mini, redis = by[(case, MINI)], by[(case, REDIS)]
        met = mini["vs_redis"] and float(mini["vs_redis"]) >= TARGET
        lines.append(f"| {label_of(case)} | {int(redis['requests_per_s']):,} "
                     f"| {int(mini['requests_per_s']):,} | {times(mini['vs_redis'])} "
                     f"| {'met' if met else '**missed**'} "
                     f"| {float(redis['cpu_us_per_request']):.2f} us "
                     f"| {float(mini['cpu_us_per_request']):.2f} us "
                     f"| {times(mini['cpu_vs_redis'])} |")
    misses = target_misses([by[(c, MINI)] for c in cases])
    lines.append("")
    if not misses:
        lines.append(f"Target, at least {TARGET:.2f}x redis-server's requests/s in every case: "
                     f"met in all {len(cases)}.")
    else:
        lines.append(f"Target, at least {TARGET:.2f}x redis-server's requests/s in every case: "
                     f"missed in " + ", ".join(f"{label_of(c)} ({ratio:.2f}x)"
                                               for c, ratio in misses) + ".")
    extra = [r for r in summary if r["server"] not in (MINI, REDIS)]
    if extra:
        lines += ["", f"An extra row, not part of the target: {extra[0]['label']}. Its "
                  "threads go where the scheduler puts them, on the cores redis-benchmark "
                  "needs too.", "",
                  "| case | requests/s | vs redis-server | server CPU per request "
                  "| cores busy |", "|---|---:|---:|---:|---:|"]
        for r in extra:
            lines.append(f"| {label_of(r['case'])} | {int(r['requests_per_s']):,} "
                         f"| {times(r['vs_redis'])} | {float(r['cpu_us_per_request']):.2f} us "
                         f"| {float(r['server_cores']):.2f} |")
    return "\n".join(lines) + "\n"


def write_chart(summary: list[dict], out: Path) -> list[str]:
    """Requests/s of every server as a multiple of redis-server's, per case;
    dashed lines at 1 (redis-server) and at the target."""
    if shutil.which("gnuplot") is None:
        print("gnuplot not found (Debian: gnuplot-nox): no chart", file=sys.stderr)
        return []
    labels = list(dict.fromkeys(r["label"] for r in summary))
    cases = [c.name for c in CASES if any(r["case"] == c.name for r in summary)]
    series = {s: {r["case"]: r["vs_redis"] for r in summary if r["label"] == s} for s in labels}
    grouped_bars(out / CHART, f"Requests per second, as a multiple of redis-server "
                 f"(higher is better; dashed red: the target, {TARGET:.2f}x)", "x redis-server",
                 cases, series, lines=((1.0, "gray30"), (TARGET, "red")))
    return [CHART]


def page_blocks(results: Path) -> dict[str, str]:
    """What the page's marked blocks must hold, from the files in `results`."""
    with open(results / "redis_summary.csv") as f:
        summary = list(csv.DictReader(f))
    return {"redis-results": render_results(summary),
            "redis-machine": fenced((results / "redis_machine.txt").read_text())}


def has_markers(text: str) -> bool:
    return all(f"<!-- {name}:{end} -->" in text for name in BLOCKS for end in ("begin", "end"))


def update_page(results: Path, page: Path) -> bool:
    """Rewrites the page's marked blocks; says so in one line when the page
    (chapter 13's, still being written) is missing or has no markers."""
    where = page.relative_to(ROOT) if page.is_relative_to(ROOT) else page
    if not page.exists() or not has_markers(page.read_text()):
        print(f"==> Skipped {where}: no <!-- redis-results:begin --> and "
              f"<!-- redis-machine:begin --> markers to fill")
        return False
    text = page.read_text()
    for name, block in page_blocks(results).items():
        text = replace_block(text, name, block)
    page.write_text(text)
    print(f"==> Updated the results in {where}")
    return True


def check_page(results: Path, page: Path) -> int:
    if not page.exists() or not has_markers(page.read_text()):
        print(f"{page.name} has no redis-results and redis-machine markers: nothing to check")
        return 0
    text = page.read_text()
    failures = [f"{page}: the {name} block does not show {results.name}/; rerun "
                f"bench/redis_vs_mini.py (--update-pages to only rewrite it), or paste:\n{block}"
                for name, block in page_blocks(results).items()
                if shown_block(text, name) != block]
    if failures:
        print("\n".join(failures), file=sys.stderr)
        return 1
    print(f"{page.name} shows redis_summary.csv and redis_machine.txt")
    return 0


def describe_machine(build: Path, redis_server: str, benchmark: str, pinning: bool,
                     args, rule: SteadyRule, notes: list[str],
                     load: tuple[float, float]) -> str:
    build_type = "unknown"
    cache = build / "CMakeCache.txt"
    if cache.exists():
        for line in cache.read_text().splitlines():
            if line.startswith("CMAKE_BUILD_TYPE:"):
                build_type = line.split("=", 1)[1] or "none"
    lines = machine_lines() + [
        f"ch13_mini_redis: {build.name} build ({build_type}), one thread",
        f"redis-server: {first_line([redis_server, '--version'])}; "
        f"--save '' --appendonly no (no persistence)",
        f"redis-benchmark: {first_line([benchmark, '--version'])}",
        "pinning: each server on core 0, redis-benchmark on core 1" if pinning else
        "pinning: none (fewer than two cores, or no taskset): server and load share the cores",
        f"runs: {args.rounds} rounds; redis-benchmark -c {CLIENTS} -d 3, one command per run "
        f"(-t set, then -t get), {args.requests:,} requests at -P 1, "
        f"{requests_for(CASES[2], args.requests):,} at -P 16",
        f"warm-up: each server started once per round and driven with -t set,get -P 16 -n "
        f"{warmup_requests(args.requests):,} until two runs in a row agreed within "
        f"{rule.tolerance:.0%} in CPU per request (at least {rule.min_windows}, at most "
        f"{rule.max_windows} runs)",
        # Other work on the machine: with two cores, anything above 2 means
        # the servers and redis-benchmark waited for a core now and then.
        f"load average (1 min): {load[0]:.1f} at the start, {load[1]:.1f} at the end",
    ]
    return "\n".join(lines + [f"note: {n}" for n in notes]) + "\n"


# --- The whole benchmark ------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build-dir", type=Path, default=ROOT / "build" / "release",
                        help="where ch13_mini_redis was built (the release preset's folder)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks")
    parser.add_argument("--page", type=Path, default=PAGE,
                        help="the page whose redis-results and redis-machine blocks to rewrite")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=None,
                        help=f"requests per -P 1 run (default 200000; --quick 20000); -P 16 "
                             f"runs send {PIPELINED_FACTOR} times as many")
    parser.add_argument("--threads", type=int, default=2,
                        help="also measure ch13_mini_redis --threads N, unpinned, as an extra "
                             "row (when the build has --threads); 0 for none")
    parser.add_argument("--quick", action="store_true",
                        help="one short round into a temporary folder; the page is left alone")
    parser.add_argument("--check-page", action="store_true",
                        help="only check that the page shows redis_summary.csv")
    parser.add_argument("--update-pages", action="store_true",
                        help="only rewrite the page's blocks from redis_summary.csv")
    args = parser.parse_args()

    if args.check_page:
        return check_page(args.out, args.page)
    if args.update_pages:
        update_page(args.out, args.page)
        return 0

    redis_server, benchmark = shutil.which("redis-server"), shutil.which("redis-benchmark")
    if not redis_server or not benchmark:
        print("skipped: redis-server or redis-benchmark not found (Debian: redis-server, "
              "redis-tools; ./scripts/sandbox.sh redis-bench installs them)")
        return SKIP
    mini = args.build_dir / "chapters" / "ch13_mini_redis"
    if not mini.exists():
        print(f"{mini} is missing: build it first (cmake --preset release && "
              "cmake --build --preset release --target ch13_mini_redis)", file=sys.stderr)
        return 2

    rule = SteadyRule(min_windows=3, max_windows=8)
    if args.quick:
        # Two short warm-up runs: enough to run the warm-up's code, not to
        # reach a steady state.
        args.rounds = 1
        args.requests = args.requests or 20_000
        rule = SteadyRule(min_windows=2, max_windows=2)
        args.out = Path(tempfile.mkdtemp(prefix="asio-sandbox-redis-bench-"))
    args.requests = args.requests or 200_000
    notes: list[str] = []
    servers = servers_to_run(mini, redis_server, args.threads, notes)
    pinning = (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None
    server_core, load_core = (0, 1) if pinning else (None, None)
    if not pinning:
        notes.append("fewer than two cores (or no taskset): nothing pinned")
    args.out.mkdir(parents=True, exist_ok=True)
    logs = Path(tempfile.mkdtemp(prefix="asio-sandbox-redis-bench-logs-"))

    def start_server(server: Server):
        if server.name == REDIS:
            return RunningRedis(server.argv[0], server_core, logs)
        # The extra --threads row runs unpinned: its threads go where the
        # scheduler puts them.
        return start(server, server_core if server.name == MINI else None, logs)

    def measure(running, server: Server, case: RedisCase, warm_up: bool) -> dict:
        if warm_up:
            case = WARMUP
        return run_benchmark(benchmark, running.process.pid, running.port, case,
                             warmup_requests(args.requests) if warm_up else
                             requests_for(case, args.requests), load_core)

    print(f"==> {len(servers)} servers x {len(CASES)} cases x {args.rounds} rounds, "
          f"{args.requests:,} requests per -P 1 run; results in {args.out}")
    load_before = os.getloadavg()[0]
    runs, windows = run_warm_rounds(CASES, servers, args.rounds, start_server, measure, rule,
                                    unit="request")
    for run in runs:
        run["cpu_us_per_request"] = run.pop("server_cpu_us_per_echo")

    with open(args.out / "redis_runs.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=RUN_FIELDS, extrasaction="ignore")
        writer.writeheader()
        # The warm-up windows first: how each server's cost settled.
        writer.writerows({"case": "warm-up", "server": w["server"], "round": w["round"],
                          "requests_per_s": f"{w['requests_per_s']:.0f}",
                          "cpu_us_per_request": w["cpu_us_per_echo"]} for w in windows)
        writer.writerows(runs)
    summary = summarise(runs, servers, CASES)
    with open(args.out / "redis_summary.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=SUMMARY_FIELDS)
        writer.writeheader()
        writer.writerows(summary)
    (args.out / "redis_machine.txt").write_text(
        describe_machine(args.build_dir, redis_server, benchmark, pinning, args, rule, notes,
                         (load_before, os.getloadavg()[0])))
    charts = write_chart(summary, args.out)

    print("\n" + render_results(summary))
    if not args.quick and args.out.resolve() == (ROOT / "docs" / "benchmarks").resolve():
        update_page(args.out, args.page)
    print(f"==> Wrote redis_runs.csv, redis_summary.csv, redis_machine.txt"
          f"{''.join(', ' + c for c in charts)} in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
