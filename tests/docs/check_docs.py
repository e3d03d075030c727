#!/usr/bin/env python3
"""Keeps the prose true. Three checks, each run by CTest:

  snippets ROOT           every \\snippet in a page names an existing file and a
                          marker that appears in it exactly twice;
  transcripts ROOT BIN    every console transcript in a chapter page (a fenced
                          block after "<!-- transcript: EXECUTABLE -->") is what
                          the program really prints, ports normalised; for the
                          load generator, whose figures change every run, every
                          line has the same words and units, numbers aside;
  links HTML_DIR          the generated site has no broken internal link.
"""
import html.parser
import pathlib
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.parse

PAGES = ["README.md", "docs/*.md", "chapters/*/README.md"]


def pages(root):
    for pattern in PAGES:
        yield from sorted(root.glob(pattern))


def check_snippets(root):
    failures, count = [], 0
    for page in pages(root):
        for number, line in enumerate(page.read_text().splitlines(), 1):
            match = re.match(r"\s*\\snippet\s+(\S+)\s+(\S+)", line)
            if not match:
                continue
            count += 1
            source, marker = root / match[1], match[2]
            where = f"{page.relative_to(root)}:{number}"
            if not source.is_file():
                failures.append(f"{where}: no file {match[1]}")
                continue
            found = source.read_text().count(f"//! [{marker}]")
            if found != 2:
                failures.append(f"{where}: marker [{marker}] appears {found} times in {match[1]}")
    return failures, f"{count} snippets"


# --- transcripts -----------------------------------------------------------

def start_server(command):
    process = subprocess.Popen(command + ["--port", "0"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    first = process.stdout.readline().rstrip("\n")
    match = re.fullmatch(r"Serving on (.+):(\d+)", first)
    if not match:
        process.kill()
        raise RuntimeError(f"{command[0]} said {first!r}")
    return process, first, int(match[2])


def finish(process, first, signum=None):
    if signum:
        time.sleep(0.3)
        process.send_signal(signum)
    out, _ = process.communicate(timeout=20)
    return [first] + out.splitlines()


def run_ch01(bin_dir):
    server, first, port = start_server([str(bin_dir / "ch01_protocol_echo_server")])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as telnet:
        for key in b"abc":
            telnet.sendall(bytes([key]))
            assert telnet.recv(64) == b"echo:" + bytes([key])
    return finish(server, first), port


def run_ch03_against_ch02(bin_dir):
    server, first, port = start_server([str(bin_dir / "ch02_stream_echo_server")])
    client = subprocess.run([str(bin_dir / "ch03_stream_echo_client"), "--port", str(port)],
                            capture_output=True, text=True, timeout=20, check=True)
    return finish(server, first, signal.SIGINT), client.stdout.splitlines(), port


def run_ch04_against_ch02(bin_dir, command):
    """The page's ch04_echo_bench command against chapter 02, briefly."""
    server, first, port = start_server([str(bin_dir / "ch02_stream_echo_server"), "--quiet"])
    command = command.replace("$(pidof ch02_stream_echo_server)", str(server.pid))
    argv = shlex.split(command[2:])
    # Same options, shorter: the shape of the report does not depend on it.
    for option, short in (("--duration", "0.5"), ("--warmup", "0.2")):
        if option in argv:
            argv[argv.index(option) + 1] = short
    argv = [str(bin_dir / argv[0]), *argv[1:], "--port", str(port), "--quiet"]
    bench = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
    finish(server, first, signal.SIGINT)
    return bench.stdout.splitlines(), port


def shape(lines):
    """A report with its figures blanked: numbers become N, and a latency's
    unit (ns, us, ms) becomes "t". The saturation remark depends on the
    machine, so it is left out."""
    return [re.sub(r"N (ns|us|ms)\b", "N t", re.sub(r"\d+(\.\d+)?", "N", line))
            for line in lines if "(saturated" not in line]


def produce(name, bin_dir, command):
    """Runs the scenario a page describes; returns the console lines and the port."""
    if name == "ch01_protocol_echo_server":
        return run_ch01(bin_dir)
    if name == "ch04_echo_bench":
        return run_ch04_against_ch02(bin_dir, command)
    server_lines, client_lines, port = run_ch03_against_ch02(bin_dir)
    if name == "ch02_stream_echo_server":
        return server_lines, port
    if name == "ch03_stream_echo_client":
        return client_lines, port
    raise KeyError(name)


def transcripts_in(page):
    text = page.read_text()
    for match in re.finditer(r"<!-- transcript: (\S+) -->\s*```console\n(.*?)```", text, re.S):
        lines = match[2].rstrip("\n").splitlines()
        assert lines[0].startswith("$ "), f"{page}: a transcript starts with its command"
        yield match[1], lines[0], lines[1:]


def check_transcripts(root, bin_dir):
    failures, count = [], 0
    for page in sorted(root.glob("chapters/*/README.md")):
        for name, command, shown in transcripts_in(page):
            count += 1
            if command.split()[1] != name or (name != "ch04_echo_bench" and command != f"$ {name}"):
                failures.append(f"{page.relative_to(root)}: transcript of {name} runs {command!r}")
                continue
            actual, port = produce(name, bin_dir, command)
            # The page shows the default port; the test ran on a free one.
            actual = [line.replace(f":{port}", ":2222") for line in actual]
            if name == "ch04_echo_bench":
                actual, shown = shape(actual), shape(shown)
            if actual != shown:
                failures.append(f"{page.relative_to(root)}: transcript of {name} differs\n"
                                f"  page:    {shown}\n  program: {actual}")
    if count == 0:
        failures.append("no transcripts found")
    return failures, f"{count} transcripts"


# --- links -----------------------------------------------------------------

class LinkCollector(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.links = []
        self.ids = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id", "name"):
            if attrs.get(key):
                self.ids.add(attrs[key])
        for key in ("href", "src"):
            if attrs.get(key):
                self.links.append(attrs[key])


def check_links(html_dir):
    parsed = {}
    for page in html_dir.glob("*.html"):
        collector = LinkCollector()
        collector.feed(page.read_text(errors="replace"))
        parsed[page.name] = collector
    failures, count = [], 0
    for name, collector in sorted(parsed.items()):
        for link in collector.links:
            url = urllib.parse.urlparse(link)
            if url.scheme or link.startswith(("//", "javascript:", "mailto:")):
                continue  # External: not ours to check offline.
            count += 1
            target = url.path or name
            if not (html_dir / target).exists():
                failures.append(f"{name}: broken link {link}")
            elif url.fragment and target in parsed and url.fragment not in parsed[target].ids:
                failures.append(f"{name}: no anchor #{url.fragment} in {target}")
    if not parsed:
        failures.append(f"no HTML in {html_dir}")
    return failures, f"{count} internal links in {len(parsed)} pages"


if __name__ == "__main__":
    check, args = sys.argv[1], [pathlib.Path(a) for a in sys.argv[2:]]
    failures, summary = {"snippets": check_snippets, "transcripts": check_transcripts,
                         "links": check_links}[check](*args)
    for failure in failures:
        print(failure, file=sys.stderr)
    print(f"{check}: {summary}, {len(failures)} failed")
    sys.exit(1 if failures else 0)
