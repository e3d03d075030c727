#!/usr/bin/env python3
"""Keeps the prose true. Four checks, each run by CTest:

  snippets ROOT           every \\snippet in a page names an existing file and a
                          marker that appears in it exactly twice;
  transcripts ROOT BIN    every console transcript in a chapter page (a fenced
                          block after "<!-- transcript: EXECUTABLE -->") is what
                          the program really prints, ports normalised; for the
                          load generator, whose figures change every run, every
                          line has the same words and units, numbers aside; for
                          a thread pool, any thread number will do;
  links HTML_DIR          the generated site has no broken internal link;
  rendering HTML_DIR      no page of the generated site shows leaked markup as
                          text: Doxygen's \\ilinebr, a markdownTable class or a
                          <td> tag, a table's escaped pipe, a stray opening
                          quote (Doxygen 1.9.4 reads `...'` as old-style
                          quoting), a backtick outside code, a Doxygen command
                          (\\snippet, \\subpage, \\ref) or a {#label}; and
                          no paragraph or list item names a page twice (a
                          Markdown link beside a \\subpage to the same page).
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


def finish(process, shown, signum=None):
    """`shown`: the line (or the list of lines) already read from the server."""
    if signum:
        time.sleep(0.3)
        process.send_signal(signum)
    out, _ = process.communicate(timeout=20)
    return ([shown] if isinstance(shown, str) else shown) + out.splitlines()


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
    """The page's ch04_echo_bench command against chapter 02, briefly. A
    command with --stall is the page's stall: chapter 02 is stopped (SIGSTOP)
    two seconds in, and the load generator must fail, its error line shown
    after the report."""
    server, first, port = start_server([str(bin_dir / "ch02_stream_echo_server"), "--quiet"])
    command = command.replace("$(pidof ch02_stream_echo_server)", str(server.pid))
    argv = shlex.split(command[2:])
    stall = "--stall" in argv
    # Same options, shorter: the shape of the report does not depend on it.
    for option, short in (("--duration", "0.5"), ("--warmup", "0.2")):
        if option in argv and not stall:
            argv[argv.index(option) + 1] = short
    argv = [str(bin_dir / argv[0]), *argv[1:], "--port", str(port), "--quiet"]
    if not stall:
        bench = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
        finish(server, first, signal.SIGINT)
        return bench.stdout.splitlines(), port
    bench = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2)
    server.send_signal(signal.SIGSTOP)
    try:
        out, err = bench.communicate(timeout=60)
    finally:
        server.send_signal(signal.SIGCONT)
    finish(server, first, signal.SIGINT)
    if bench.returncode != 1:
        raise RuntimeError(f"the stalled run ended with status {bench.returncode}: {err}")
    return out.splitlines() + err.splitlines(), port


def read_until(process, suffix, lines):
    """Appends the server's lines to `lines` until one ends with `suffix`."""
    while True:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"the server ended before printing '...{suffix}'")
        lines.append(line.rstrip("\n"))
        if line.rstrip("\n").endswith(suffix):
            return


def server_args(command):
    """The options a transcript's command line gives its server."""
    return shlex.split(command[2:])[1:]


def run_ch05(bin_dir, command):
    """Keys sent one at a time, each echoed before the next, as in chapter 01."""
    server, first, port = start_server([str(bin_dir / "ch05_thread_pool_server"),
                                        *server_args(command)])
    lines = [first]
    # A pool's thread may log the first connection before the serving
    # coroutine's second line: wait for it, as a reader waits for the server.
    read_one(server, lines)  # Running on N threads
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        for key in b"abc":
            client.sendall(bytes([key]))
            assert client.recv(64) == bytes([key])
    read_until(server, " closed", lines)
    return finish(server, lines, signal.SIGINT), port


def run_ch06(bin_dir, command):
    """Two clients taking turns: each connection stays on its own thread."""
    server, first, port = start_server([str(bin_dir / "ch06_context_per_thread_server"),
                                        *server_args(command)])
    lines = [first]
    read_one(server, lines)  # Running on N threads (see run_ch05)
    one = socket.create_connection(("127.0.0.1", port), timeout=10)
    one.sendall(b"a")
    assert one.recv(64) == b"a"
    two = socket.create_connection(("127.0.0.1", port), timeout=10)
    for client, key in ((two, b"b"), (one, b"c"), (two, b"d")):
        client.sendall(key)
        assert client.recv(64) == key
    one.close()
    read_until(server, "connection 1 closed", lines)
    two.close()
    read_until(server, "connection 2 closed", lines)
    return finish(server, lines, signal.SIGINT), port


def run_ch07(bin_dir, command):
    """Two chatters: guest1 says hello, guest2 answers, both leave."""
    server, first, port = start_server([str(bin_dir / "ch07_chat_server"), *server_args(command)])
    lines = [first]
    read_one(server, lines)  # Running on N threads (see run_ch05)
    one = socket.create_connection(("127.0.0.1", port), timeout=10).makefile("rwb", buffering=0)
    assert one.readline().startswith(b"Welcome, guest1!")
    two = socket.create_connection(("127.0.0.1", port), timeout=10).makefile("rwb", buffering=0)
    assert two.readline().startswith(b"Welcome, guest2!")
    assert one.readline() == b"* guest2 joined\n"
    one.write(b"hello, anyone here?\n")
    assert two.readline() == b"guest1: hello, anyone here?\n"
    two.write(b"yes, hi!\n")
    assert one.readline() == b"guest2: yes, hi!\n"
    two.close()
    assert one.readline() == b"* guest2 left\n"
    one.close()
    read_until(server, "guest1 left", lines)
    return finish(server, lines, signal.SIGINT), port


def read_one(process, lines):
    lines.append(process.stdout.readline().rstrip("\n"))


def run_ch09(bin_dir, command):
    """Four clients: one talks, one sends an over-long line, one idles until
    it is closed, one is refused; then SIGTERM while the first is still on."""
    server, first, port = start_server([str(bin_dir / "ch09_robust_server"), *server_args(command)])
    lines = [first]
    read_one(server, lines)  # Limits: ...
    talker = socket.create_connection(("127.0.0.1", port), timeout=10).makefile("rwb", buffering=0)
    talker.write(b"hello\n")
    assert talker.readline() == b"hello\n"
    read_one(server, lines)  # connection 1: opened
    with socket.create_connection(("127.0.0.1", port), timeout=10) as offender:
        offender.sendall(b"x" * 30 + b"\n")
        assert offender.makefile("rb").read().startswith(b"error: line longer")
    read_until(server, "bytes", lines)  # opened, then closed: a line longer than ...
    idler = socket.create_connection(("127.0.0.1", port), timeout=10)
    read_one(server, lines)  # connection 3: opened
    with socket.create_connection(("127.0.0.1", port), timeout=10) as refused:
        assert refused.makefile("rb").read().startswith(b"error: server busy")
    time.sleep(1)  # The talker keeps within its idle timeout; the idler does not.
    talker.write(b"still here\n")
    assert talker.readline() == b"still here\n"
    assert idler.makefile("rb").read().startswith(b"error: no line for")
    idler.close()
    read_until(server, " s", lines)  # connection 3: closed: no line for ...
    server.send_signal(signal.SIGTERM)
    read_until(server, "to finish", lines)
    talker.write(b"goodbye\n")
    assert talker.readline() == b"goodbye\n"
    talker.close()
    return finish(server, lines), port


# A transcript may run its program under a lower descriptor limit:
# "$ prlimit --nofile=SOFT:HARD PROGRAM ...".
LIMITED = re.compile(r"\$ prlimit (--nofile=\d+:\d+) ")


def run_ch09_limited(bin_dir, command):
    """Chapter 09 started under `prlimit`: its start-up only, the warning
    (stderr) first, as a terminal shows it."""
    limit = LIMITED.match(command)[1]
    argv = ["prlimit", limit, str(bin_dir / "ch09_robust_server"),
            *shlex.split(LIMITED.sub("$ ", command))[2:]]
    server, first, port = start_server(argv)
    lines = [server.stderr.readline().rstrip("\n"), first]
    read_one(server, lines)  # Limits: ...
    server.kill()
    server.wait()
    return lines, port


def run_troublemaker(bin_dir, command, against):
    """The page's troublemaker command against the server the marker names."""
    server_argv = shlex.split(against)
    server, first, port = start_server([str(bin_dir / server_argv[0]), *server_argv[1:]])
    argv = [str(bin_dir / "ch10_troublemaker"), *server_args(command), "--port", str(port)]
    trouble = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
    finish(server, first, signal.SIGINT)
    return trouble.stdout.splitlines(), port


def observed(lines):
    """The troublemaker's times and stall points vary from run to run."""
    lines = [re.sub(r"^\[ *\d+\.\d\d s\]", "[t]", line) for line in lines]
    return [re.sub(r"stalled after [\d.]+ MiB", "stalled after N MiB", line) for line in lines]


def any_peer(lines):
    """A client's port is whatever the kernel gave it."""
    return [re.sub(r"from (\S+):\d+$", r"from \1:PORT", line) for line in lines]


def any_thread(lines):
    """A pool's thread numbers change from run to run: "[thread N]"."""
    return [re.sub(r"^\[thread \d+\]", "[thread N]", line) for line in lines]


def shape(lines):
    """A report with its figures blanked: numbers become N, and a latency's
    unit (ns, us, ms) becomes "t". The saturation remark depends on the
    machine, so it is left out."""
    return [re.sub(r"N (ns|us|ms)\b", "N t", re.sub(r"\d+(\.\d+)?", "N", line))
            for line in lines if "(saturated" not in line]


def produce(name, bin_dir, command, against=None):
    """Runs the scenario a page describes; returns the console lines and the port."""
    if name == "ch10_troublemaker":
        return run_troublemaker(bin_dir, command, against)
    if name == "ch09_robust_server":
        if LIMITED.match(command):
            return run_ch09_limited(bin_dir, command)
        return run_ch09(bin_dir, command)
    if name == "ch01_protocol_echo_server":
        return run_ch01(bin_dir)
    if name == "ch04_echo_bench":
        return run_ch04_against_ch02(bin_dir, command)
    if name == "ch05_thread_pool_server":
        return run_ch05(bin_dir, command)
    if name == "ch06_context_per_thread_server":
        return run_ch06(bin_dir, command)
    if name == "ch07_chat_server":
        return run_ch07(bin_dir, command)
    server_lines, client_lines, port = run_ch03_against_ch02(bin_dir)
    if name == "ch02_stream_echo_server":
        return server_lines, port
    if name == "ch03_stream_echo_client":
        return client_lines, port
    raise KeyError(name)


# Transcripts whose command takes no options (the others may).
PLAIN_COMMANDS = {"ch01_protocol_echo_server", "ch02_stream_echo_server",
                  "ch03_stream_echo_client"}
# A thread pool runs each handler on whichever thread is free: the page's
# thread numbers are an example. (Chapter 06's are fixed, and checked.)
ANY_THREAD = {"ch05_thread_pool_server", "ch07_chat_server"}


def transcripts_in(page):
    text = page.read_text()
    # "<!-- transcript: NAME -->", or for a client "<!-- transcript: NAME
    # against SERVER OPTIONS -->": the server it ran against.
    for match in re.finditer(r"<!-- transcript: (\S+)(?: against ([^>]*?))? -->\s*```console\n(.*?)```",
                             text, re.S):
        lines = match[3].rstrip("\n").splitlines()
        assert lines[0].startswith("$ "), f"{page}: a transcript starts with its command"
        yield match[1], match[2], lines[0], lines[1:]


def check_transcripts(root, bin_dir):
    failures, count = [], 0
    for page in sorted(root.glob("chapters/*/README.md")):
        for name, against, command, shown in transcripts_in(page):
            count += 1
            if LIMITED.sub("$ ", command).split()[1] != name or (name in PLAIN_COMMANDS and command != f"$ {name}"):
                failures.append(f"{page.relative_to(root)}: transcript of {name} runs {command!r}")
                continue
            if (name == "ch10_troublemaker") != (against is not None):
                failures.append(f"{page.relative_to(root)}: only the troublemaker's transcripts "
                                f"say which server they ran against")
                continue
            actual, port = produce(name, bin_dir, command, against)
            # The page shows the default port; the test ran on a free one.
            actual = [line.replace(f":{port}", ":2222") for line in actual]
            if name == "ch04_echo_bench":
                actual, shown = shape(actual), shape(shown)
            if name in ANY_THREAD:
                actual, shown = any_thread(actual), any_thread(shown)
            if name == "ch09_robust_server":
                actual, shown = any_peer(actual), any_peer(shown)
            if name == "ch10_troublemaker":
                actual, shown = observed(actual), observed(shown)
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


# --- rendering ---------------------------------------------------------------

# What a reader must never see as text. Doxygen's own internals are wrong
# anywhere, code included; commands and labels only outside code, since a
# source listing may show a documentation comment that uses them.
LEAKED_ANYWHERE = re.compile(r"\\ilinebr|markdownTable\w*|</?t[dhr]\b|\u2018")
# A table cell escapes its pipes (GitHub shows `a \\|\\| b` as a || b).
LEAKED_IN_CELLS = re.compile(r"\\\|")
# A backtick outside code is a code span Doxygen did not take as one.
LEAKED_IN_PROSE = re.compile(r"\\(?:snippet|subpage|ref|page|section|subsection)\b|\{#[\w-]+\}|`")
BLOCK_TAGS = {"p", "li", "td", "th", "dd"}
VOID_TAGS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
             "source", "track", "wbr"}


class TextCollector(html.parser.HTMLParser):
    """Collects the text a reader sees, marking what is inside code."""

    def __init__(self):
        super().__init__()
        self.open = []  # (tag, is code or script) per open element
        self.texts = []  # (text, in code, in a table cell)
        self.blocks = 0  # paragraphs, list items and cells seen so far
        self.block = []  # the number of each open one
        self.link = None  # [href, text] of the open link
        self.links = []  # (block, href, text, text between it and the one before)
        self.between = ""

    def handle_starttag(self, tag, attrs):
        if tag in VOID_TAGS:
            return
        classes = (dict(attrs).get("class") or "").split()
        code = (tag in ("code", "pre", "script", "style") or "fragment" in classes
                or any(hidden for _, hidden in self.open))
        self.open.append((tag, code))
        if tag in BLOCK_TAGS:
            self.blocks += 1
            self.block.append(self.blocks)
        elif tag == "a" and dict(attrs).get("href") and not code:
            self.link = [dict(attrs)["href"].partition("#")[0], "", self.between]

    def handle_startendtag(self, tag, attrs):
        pass

    def handle_endtag(self, tag):
        for depth in range(len(self.open) - 1, -1, -1):
            if self.open[depth][0] == tag:
                closed = [t for t, _ in self.open[depth:]]
                del self.open[depth:]
                break
        else:
            return
        if "a" in closed and self.link:
            self.links.append((self.block[-1] if self.block else 0, *self.link))
            self.link, self.between = None, ""
        for _ in range(sum(t in BLOCK_TAGS for t in closed)):
            self.block.pop()

    def handle_data(self, data):
        if self.link:
            self.link[1] += data
        else:
            self.between += data
        tag = self.open[-1][0] if self.open else ""
        if tag not in ("script", "style") and data.strip():
            self.texts.append((data, any(code for _, code in self.open),
                               any(t in ("td", "th") for t, _ in self.open)))


def check_rendering(html_dir):
    failures, count = [], 0
    for page in sorted(html_dir.glob("*.html")):
        collector = TextCollector()
        collector.feed(page.read_text(errors="replace"))
        count += 1
        for text, in_code, in_cell in collector.texts:
            patterns = ([LEAKED_ANYWHERE] + ([] if in_code else [LEAKED_IN_PROSE])
                        + ([LEAKED_IN_CELLS] if in_cell else []))
            for pattern in patterns:
                for match in pattern.finditer(text):
                    start = max(0, match.start() - 40)
                    shown = " ".join(text[start:match.end() + 40].split())
                    failures.append(f"{page.name}: shows {match[0]!r} in \"{shown}\"")
        # A title twice in a row: a Markdown link beside a \subpage to the same page.
        for before, link in zip(collector.links, collector.links[1:]):
            if before[:3] == link[:3] and not link[3].strip(" \n:,;.()"):
                failures.append(f"{page.name}: shows {link[2]!r} twice in a row")
    if not count:
        failures.append(f"no HTML in {html_dir}")
    return failures, f"{count} pages"


if __name__ == "__main__":
    check, args = sys.argv[1], [pathlib.Path(a) for a in sys.argv[2:]]
    failures, summary = {"snippets": check_snippets, "transcripts": check_transcripts,
                         "links": check_links, "rendering": check_rendering}[check](*args)
    for failure in failures:
        print(failure, file=sys.stderr)
    print(f"{check}: {summary}, {len(failures)} failed")
    sys.exit(1 if failures else 0)
