#!/usr/bin/env python3
"""The benchmark driver's warm-up, with fake servers instead of real ones.

asyncio's servers here cost about twice the CPU per echo on the first
connections they serve after starting, and keep that cost as long as those
connections last; a driver that measures a freshly started server therefore
reports its cold cost, whatever its warm-up. These tests give the driver
servers whose cost is scripted per set of connections, so what it measures
is known exactly, without timing anything.

    python3 bench/test_run_benchmarks.py     (CTest: bench.warmup)
"""
import contextlib
import io
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run_benchmarks as rb  # noqa: E402

CASES = [rb.Case("100x1KiB", 100, 1024, ""), rb.Case("1x1KiB", 1, 1024, "")]


class FakeServer:
    """A started server: the nth set of connections it serves costs costs[n]
    us of CPU per echo (the last figure repeats)."""

    def __init__(self, server, costs, log):
        self.server, self.costs, self.log = server, costs, log
        self.connection_sets = 0
        self.stopped = False
        log.append(("start", server.name))

    def serve(self, case, warm_up):
        cost = self.costs[min(self.connection_sets, len(self.costs) - 1)]
        self.connection_sets += 1
        self.log.append(("warm" if warm_up else case.name, self.server.name))
        return {"requests_per_s": 1e6 / cost, "server_cpu_us_per_echo": cost}

    def stop(self):
        self.stopped = True
        self.log.append(("stop", self.server.name))


def drive(costs_by_server, rounds=1, rule=rb.SteadyRule()):
    """Runs the driver against fake servers; returns (runs, windows, log)."""
    log, started = [], []
    servers = [rb.Server(name, name, []) for name in costs_by_server]

    def start(server):
        started.append(FakeServer(server, costs_by_server[server.name], log))
        return started[-1]

    def measure(running, server, case, warm_up):
        return running.serve(case, warm_up)

    with contextlib.redirect_stdout(io.StringIO()):  # its progress lines
        runs, windows = rb.run_warm_rounds(CASES, servers, rounds, start, measure, rule)
    assert all(s.stopped for s in started), "every server is stopped after its round"
    return runs, windows, log


class WarmUpTest(unittest.TestCase):
    def test_a_server_slow_on_its_first_connections_is_measured_at_its_steady_cost(self):
        runs, _, _ = drive({"epoll": [6.0], "asyncio": [30.0, 15.0]})
        self.assertEqual({r["server_cpu_us_per_echo"] for r in runs if r["server"] == "asyncio"},
                         {15.0})

    def test_warm_up_ends_when_two_windows_in_a_row_agree(self):
        _, windows, _ = drive({"asyncio": [30.0, 15.0, 15.3, 15.1]})
        self.assertEqual([w["cpu_us_per_echo"] for w in windows], [30.0, 15.0, 15.3])
        self.assertTrue(all(w["steady"] for w in windows))

    def test_a_slow_ramp_is_followed_until_it_levels_off(self):
        _, windows, _ = drive({"node": [13.0, 12.2, 11.5, 11.4, 11.0]})
        self.assertEqual([w["cpu_us_per_echo"] for w in windows], [13.0, 12.2, 11.5, 11.4])

    def test_a_server_that_never_holds_still_is_warmed_up_to_the_cap_and_says_so(self):
        rule = rb.SteadyRule(max_windows=4)
        runs, windows, _ = drive({"jumpy": [10.0, 20.0] * 5}, rule=rule)
        self.assertEqual(len(windows), 4)
        self.assertFalse(any(w["steady"] for w in windows))
        self.assertEqual(len(runs), len(CASES), "it is measured anyway")

    def test_each_round_starts_and_warms_every_server_once_before_measuring_any(self):
        _, _, log = drive({"a": [5.0], "b": [5.0]}, rounds=2)
        first_round = log[:log.index(("stop", "a")) if log.index(("stop", "a")) <
                          log.index(("stop", "b")) else log.index(("stop", "b"))]
        first_measured = next(i for i, (what, _) in enumerate(first_round)
                              if what in {c.name for c in CASES})
        self.assertEqual({e for e in first_round[first_measured:] if e[0] in ("start", "warm")},
                         set(), "no server is started or warmed once measuring has begun")
        self.assertEqual(sum(1 for e in log if e[0] == "start"), 4, "two servers, two rounds")

    def test_the_order_of_the_servers_rotates_each_round(self):
        runs, _, _ = drive({"a": [5.0], "b": [5.0], "c": [5.0]}, rounds=2)
        firsts = [next(r["server"] for r in runs if r["round"] == n) for n in (0, 1)]
        self.assertEqual(firsts, ["a", "b"])

    def test_the_warmup_table_shows_each_servers_first_and_steady_cost(self):
        _, windows, _ = drive({"epoll": [6.0], "asyncio": [30.0, 15.0]})
        summary = [{"server": "epoll", "label": "C epoll baseline"},
                   {"server": "asyncio", "label": "asyncio"}]
        table = rb.render_warmup(windows, summary)
        self.assertIn("| asyncio | 30.00 us | 15.00 us | 2.00x | 3 | 1 of 1 |", table)
        self.assertIn("| C epoll baseline | 6.00 us | 6.00 us | 1.00x | 3 | 1 of 1 |", table)


if __name__ == "__main__":
    unittest.main(verbosity=2)
