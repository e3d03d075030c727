#!/usr/bin/env python3
"""Keeps the prose true. Five checks, each run by CTest:

  listings [--fix] ROOT   every listing (a fenced block after "<!-- listing:
                          FILE MARKER -->") is the marked region of FILE, no
                          \\snippet line is left, each chapter page ends with
                          its top navigation, a diagram's text form is up to
                          date; --fix makes it all so (see "listings" below);
  host-links ROOT         the pages read on a code host: every relative link
                          names a file, its #anchor a heading GitHub would
                          make, and no Doxygen-only syntax shows raw;
  transcripts ROOT BIN    every console transcript in a chapter page (a fenced
                          block after "<!-- transcript: EXECUTABLE -->") is what
                          the program really prints, ports normalised; for the
                          load generator, whose figures change every run, every
                          line has the same words and units, numbers aside; for
                          a thread pool, any thread number will do; and a
                          bug hunt's runs of its check ("<!-- transcript:
                          hunt_check -->"), numbers aside;
  links HTML_DIR          the generated site has no broken internal link;
  rendering HTML_DIR      no page of the generated site shows leaked markup as
                          text: Doxygen's \\ilinebr, a markdownTable class or a
                          <td> tag, a table's escaped pipe, a stray opening
                          quote (Doxygen 1.9.4 reads `...'` as old-style
                          quoting), a backtick outside code, a Doxygen command
                          (\\snippet, \\subpage, \\ref) or a {#label};
                          no paragraph or list item names a page twice (a
                          Markdown link beside a \\subpage to the same page);
                          and every <details> (an exercise's hint) has its
                          summary and its text under it.
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

PAGES = ["README.md", "docs/*.md", "chapters/*/README.md", "exercises/README.md",
         "exercises/*/README.md", "bughunts/README.md", "bughunts/*/README.md"]


def pages(root):
    for pattern in PAGES:
        yield from sorted(root.glob(pattern))


# --- listings: the pages' code, as a code host shows it ---------------------
#
# A page shows code as a fenced block headed by the region it copies:
#
#     <!-- listing: chapters/01_protocol_echo_server/main.cpp protocol -->
#     ```cpp
#     ...the lines between the two "//! [protocol]" markers...
#     ```
#
# The block holds what Doxygen's \snippet would show: the lines between the
# marker lines, leading and trailing blank lines dropped, and de-indented by
# the region's common indentation (a region taken from inside a function
# starts at the left margin, as a listing on its own should). Lines that are
# only another region's marker are left out. A code host shows the block as
# it is, and Doxygen renders it highlighted, so there is one Markdown for
# both; `listings --fix` keeps it equal to the source.
#
# The same command turns any "\snippet FILE MARKER" line (the old form, which
# a code host shows raw) into a listing; copies each chapter page's top
# navigation (the line after "<!-- nav -->") to the page's end, after
# "<!-- bottom-nav -->"; and writes the text form of a sequence diagram
# ("<!-- msc ... -->": the site draws it, see docs/markdown_filter.py) into
# the ```text block that follows it, which is what a code host shows.

FIX_COMMAND = "python3 tests/docs/check_docs.py listings --fix .  (or: ./scripts/sandbox.sh pages)"
SNIPPET = re.compile(r"^[ \t]*\\snippet[ \t]+(\S+)[ \t]+(\S+)[ \t]*$", re.M)
LISTING = re.compile(r"^<!-- listing: (\S+) (\S+) -->\n```cpp\n(.*?)^```[ \t]*$", re.M | re.S)
# Any line that starts a listing, read or not: one that LISTING does not
# match (a marker with a space, no ```cpp block after it) would otherwise be
# skipped in silence, and its block stay empty while the check passes.
LISTING_LINE = re.compile(r"^<!-- listing:.*$", re.M)
ANY_MARKER = re.compile(r"^\s*//! \[[^\]]*\]\s*$")
NAV = re.compile(r"^<!-- nav -->\n(.*)$", re.M)
BOTTOM_NAV = "<!-- bottom-nav -->"
BOTTOM_NAV_BLOCK = re.compile(r"\n*(?:---\n)?" + re.escape(BOTTOM_NAV) + r"\n.*\Z", re.S)
MSC = re.compile(r"^<!-- msc\b[^\n]*\n(.*?)^-->\n(?:\n*```text\n.*?^```[ \t]*\n)?", re.M | re.S)


def region(root, path, marker):
    """The lines a listing of `path`'s region `marker` shows, or raises
    ValueError saying why there are none."""
    source = root / path
    if not source.is_file():
        raise ValueError(f"no file {path}")
    lines = source.read_text().splitlines()
    at = [i for i, line in enumerate(lines) if f"//! [{marker}]" in line]
    if len(at) != 2:
        raise ValueError(f"marker [{marker}] appears {len(at)} times in {path} (must be 2)")
    body = [line.rstrip() for line in lines[at[0] + 1:at[1]] if not ANY_MARKER.match(line)]
    while body and not body[0]:
        body.pop(0)
    while body and not body[-1]:
        body.pop()
    indent = min((len(line) - len(line.lstrip()) for line in body if line), default=0)
    text = "".join(line[indent:] + "\n" for line in body)
    if "```" in text:
        raise ValueError(f"region [{marker}] of {path} contains ``` (it would end the block)")
    return text


def listing(path, marker, text):
    return f"<!-- listing: {path} {marker} -->\n```cpp\n{text}```"


def msc_text(diagram):
    """A sequence diagram in mscgen's language, as lines of text a code host
    shows: "client => server   label", one per arc, named by the entities'
    labels."""
    names = {}
    for name, label in re.findall(r'(\w+)\s*\[label\s*=\s*"((?:[^"\\]|\\.)*)"\]\s*[,;]',
                                  diagram.split("=>", 1)[0]):
        names[name] = label
    arcs = []
    for source, arrow, target, label in re.findall(
            r'^\s*(\w+)\s*(=>|->|>>|<=|<-|<<|:>)\s*(\w+)\s*\[label\s*=\s*"((?:[^"\\]|\\.)*)"\]',
            diagram, re.M):
        arcs.append((names.get(source, source), arrow, names.get(target, target),
                     label.replace('\\"', '"')))
    left = max((len(arc[0]) for arc in arcs), default=0)
    right = max((len(arc[2]) for arc in arcs), default=0)
    return "".join(f"{a:<{left}} {arrow} {b:<{right}}  {label}".rstrip() + "\n"
                   for a, arrow, b, label in arcs)


def page_id(root, page):
    """The id docs/markdown_filter.py gives a page (keep the two the same):
    chapters/NN_name/README.md is chNN_name, docs/NAME.md is NAME,
    exercises/NN_name/README.md exNN_name, bughunts/NN_name/README.md
    huntNN_name, and the two folders' own README.md exercises and bughunts."""
    relative = page.relative_to(root)
    if relative.parts[0] == "chapters" and relative.name == "README.md":
        return "ch" + relative.parent.name
    practice = {"exercises": "ex", "bughunts": "hunt"}
    if relative.parts[0] in practice and relative.name == "README.md":
        if len(relative.parts) == 2:
            return relative.parts[0]
        return practice[relative.parts[0]] + relative.parent.name
    return relative.stem if relative.parts[0] == "docs" else None


MSC_COMMENT_HEAD = "<!-- msc: the site draws this diagram; a code host shows the text form below it"


def synced(root, page, text, problems):
    """`page`'s text with every listing, bottom nav and diagram text as the
    sources say; what cannot be made so goes to `problems`."""
    where = page.relative_to(root)

    def as_listing(match):
        """A \\snippet line or a listing, made a listing of its region."""
        try:
            return listing(match[1], match[2], region(root, match[1], match[2]))
        except ValueError as error:
            problems.append(f"{where}:{match.string.count(chr(10), 0, match.start()) + 1}: {error}")
            return match[0]

    def diagram(match):
        return match[0][:match.start(1) - match.start(0)] + match[1] + "-->\n\n```text\n" + \
            msc_text(match[1]) + "```\n"

    text = LISTING.sub(as_listing, SNIPPET.sub(as_listing, text))
    # Doxygen-only syntax written on another branch: a title's {#id} that the
    # filter would add anyway goes, and a \msc diagram becomes a comment.
    name = page_id(root, page)
    if name and str(where) not in DOXYGEN_ONLY_ALLOWED:
        text = re.sub(rf"\A(# .*?)[ \t]*\{{#{re.escape(name)}\}}[ \t]*$", r"\1", text,
                      count=1, flags=re.M)
    text = re.sub(r"^\\msc[ \t]*\n(.*?)^\\endmsc[ \t]*\n",
                  lambda match: f"{MSC_COMMENT_HEAD}\n{match[1]}-->\n", text, flags=re.M | re.S)
    text = MSC.sub(diagram, text)
    nav = NAV.search(text)
    if nav:
        text = BOTTOM_NAV_BLOCK.sub("", text.rstrip("\n") + "\n").rstrip("\n")
        text += f"\n\n---\n{BOTTOM_NAV}\n{nav[1]}\n"
    return text


def check_listings(*args):
    """Every listing equals its region, no \\snippet line is left, the bottom
    navigation equals the top one, a diagram's text form is up to date.
    With --fix (before ROOT), rewrites the pages so that all of it holds."""
    options = [str(arg) for arg in args[:-1]]
    if not args or options not in ([], ["--fix"]):
        print("usage: check_docs.py listings [--fix] ROOT", file=sys.stderr)
        sys.exit(2)
    root, fix = args[-1], options == ["--fix"]
    failures, count, changed = [], 0, []
    for page in pages(root):
        text = page.read_text()
        count += len(LISTING.findall(text)) + len(SNIPPET.findall(text))
        problems = []
        read = {match.start() for match in LISTING.finditer(text)}
        for line in LISTING_LINE.finditer(text):
            if line.start() not in read:
                problems.append(f"{page.relative_to(root)}:{text.count(chr(10), 0, line.start()) + 1}: "
                                f"cannot read this listing line (it must be '<!-- listing: FILE "
                                f"MARKER -->', neither with a space, then a ```cpp block): "
                                f"{line[0]}")
        wanted = synced(root, page, text, problems)
        failures += problems
        if wanted == text:
            continue
        where = page.relative_to(root)
        if fix:
            page.write_text(wanted)
            changed.append(str(where))
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if SNIPPET.match(line):
                failures.append(f"{where}:{number}: a \\snippet line (a code host shows it raw)")
        for match in LISTING.finditer(text):
            try:
                if match[3] != region(root, match[1], match[2]):
                    number = text.count("\n", 0, match.start()) + 1
                    failures.append(f"{where}:{number}: the listing of {match[1]} [{match[2]}] "
                                    f"differs from the source")
            except ValueError:
                pass  # Already said by synced().
        nav = NAV.search(text)
        if nav and not text.endswith(f"\n---\n{BOTTOM_NAV}\n{nav[1]}\n"):
            failures.append(f"{where}: the page does not end with its top navigation")
        if re.search(r"^\\msc", text, re.M) or MSC.sub("", wanted) == MSC.sub("", text) != text:
            failures.append(f"{where}: a \\msc diagram, or a diagram's text form out of date")
        if text.splitlines()[:1] != wanted.splitlines()[:1]:
            failures.append(f"{where}:1: the title's {{#id}} (the filter adds it)")
        if not any(f.startswith(str(where)) for f in failures):
            failures.append(f"{where}: not as the sources say")
    if failures and not fix:
        failures.append(f"To refresh every page from the sources: {FIX_COMMAND}")
    summary = f"{count} listings"
    if fix:
        summary += f", {len(changed)} pages rewritten" + (f" ({', '.join(changed)})" if changed else "")
    return failures, summary


# --- Doxygen-only syntax and links, as a code host reads the pages ------------

# Syntax that a code host shows raw. Heading ids come from the file's path
# (docs/markdown_filter.py adds them); a diagram is an "<!-- msc" comment.
DOXYGEN_ONLY = [
    (re.compile(r"^#+ .*\{#[\w-]+\}\s*$"), "a {#id} on a heading (the filter adds page ids)"),
    (re.compile(r"^\s*\\(msc|endmsc)\b"), "\\msc (write the diagram as an <!-- msc comment)"),
    (re.compile(r"(?<![\w`])[\\@](ref|subpage|page|anchor|section)\b"),
     "a Doxygen command (a code host shows it raw)"),
]
# Pages allowed to use it (none: the tutorial's links become \subpage in the
# filter).
DOXYGEN_ONLY_ALLOWED = set()


def without_code(text):
    """The page with fenced blocks, HTML comments and code spans blanked
    (lines kept, so that line numbers still match)."""
    blank = lambda match: re.sub(r"[^\n]", " ", match[0])
    text = re.sub(r"^(```|~~~).*?^\1[ \t]*$", blank, text, flags=re.M | re.S)
    text = re.sub(r"<!--.*?-->", blank, text, flags=re.S)
    return re.sub(r"(`+)[^`\n].*?\1", blank, text)


def github_slug(heading):
    """The anchor GitHub gives a heading: markup dropped, lower case, every
    character but letters, digits, spaces, '-' and '_' removed, spaces made
    '-'. (Repeats get -1, -2, ...: see anchors().)"""
    text = re.sub(r"<!--.*?-->|<[^>]+>", "", heading)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = text.replace("`", "").replace("*", "")
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(page):
    seen, result = {}, set()
    code_free = without_code(page.read_text())
    for line in code_free.splitlines():
        match = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            slug = github_slug(match[1])
            result.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
            seen[slug] = seen.get(slug, 0) + 1
    return result


def check_host_links(root):
    """Every relative link of every page ([x](path) or [x](path#anchor))
    names a file of the repository, and its anchor a heading there, as a code
    host resolves them; no Doxygen-only syntax is left in the text."""
    failures, count = [], 0
    for page in pages(root):
        where = page.relative_to(root)
        text = without_code(page.read_text())
        for number, line in enumerate(text.splitlines(), 1):
            if str(where) not in DOXYGEN_ONLY_ALLOWED:
                for pattern, why in DOXYGEN_ONLY:
                    if pattern.search(line):
                        failures.append(f"{where}:{number}: {why}")
            for match in re.finditer(r"!?\[(?:[^\]]|\][^(])*?\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", line):
                target = match[1]
                if re.match(r"[a-z][a-z0-9+.-]*:", target):
                    continue  # A URL (https:, mailto:): not ours to check offline.
                count += 1
                path, _, fragment = urllib.parse.unquote(target).partition("#")
                file = (page.parent / path).resolve() if path else page
                if not file.exists():
                    failures.append(f"{where}:{number}: {target}: no such file")
                elif fragment and file.suffix == ".md" and fragment not in anchors(file):
                    failures.append(f"{where}:{number}: {target}: no heading #{fragment} in "
                                    f"{file.relative_to(root.resolve())}")
                elif file.is_relative_to(root.resolve()) is False:
                    failures.append(f"{where}:{number}: {target}: outside the repository")
    return failures, f"{count} relative links"


# --- transcripts -----------------------------------------------------------

def launch_server(command):
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
    server, first, port = launch_server([str(bin_dir / "ch01_protocol_echo_server")])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as telnet:
        for key in b"abc":
            telnet.sendall(bytes([key]))
            assert telnet.recv(64) == b"echo:" + bytes([key])
    return finish(server, first), port


def run_ch03_against_ch02(bin_dir):
    server, first, port = launch_server([str(bin_dir / "ch02_stream_echo_server")])
    client = subprocess.run([str(bin_dir / "ch03_stream_echo_client"), "--port", str(port)],
                            capture_output=True, text=True, timeout=20, check=True)
    return finish(server, first, signal.SIGINT), client.stdout.splitlines(), port


def run_ch04_against_ch02(bin_dir, command):
    """The page's ch04_echo_bench command against chapter 02, briefly. A
    command with --stall is the page's stall: chapter 02 is stopped (SIGSTOP)
    two seconds in, and the load generator must fail, its error line shown
    after the report."""
    server, first, port = launch_server([str(bin_dir / "ch02_stream_echo_server"), "--quiet"])
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
    server, first, port = launch_server([str(bin_dir / "ch05_thread_pool_server"),
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
    server, first, port = launch_server([str(bin_dir / "ch06_context_per_thread_server"),
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
    server, first, port = launch_server([str(bin_dir / "ch07_chat_server"), *server_args(command)])
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
    server, first, port = launch_server([str(bin_dir / "ch09_robust_server"), *server_args(command)])
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
    server, first, port = launch_server(argv)
    lines = [server.stderr.readline().rstrip("\n"), first]
    read_one(server, lines)  # Limits: ...
    server.kill()
    server.wait()
    return lines, port


def run_troublemaker(bin_dir, command, against):
    """The page's troublemaker command against the server the marker names."""
    server_argv = shlex.split(against)
    server, first, port = launch_server([str(bin_dir / server_argv[0]), *server_argv[1:]])
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


# A bug hunt's page shows its check's runs: "<!-- transcript: hunt_check -->"
# before a console block of one or more "$ build/dev/tests/hunts/hunt_check
# SCENARIO build/dev/bughunts/PROGRAM" commands, each followed by what it
# printed. Its figures (bytes, answers, MiB) change from run to run, so they
# are compared as the load generator's are: numbers aside, every word.
HUNT_COMMAND = re.compile(
    r"\$ build/dev/(tests/hunts/hunt_check) ([\w-]+) build/dev/(bughunts/\w+)$")


def hunt_runs(page):
    """(command, the lines it printed) for each run a hunt's page shows."""
    for match in re.finditer(r"<!-- transcript: hunt_check -->\s*```console\n(.*?)```",
                             page.read_text(), re.S):
        runs = []
        for line in match[1].rstrip("\n").splitlines():
            if line.startswith("$ "):
                runs.append((line, []))
            elif runs:
                runs[-1][1].append(line)
        yield from runs


def check_hunt_transcripts(root, bin_dir):
    """The hunts' runs, against the programs of the build that holds BIN."""
    failures, count, build = [], 0, bin_dir.parent
    for page in sorted(root.glob("bughunts/*/README.md")):
        for command, shown in hunt_runs(page):
            count += 1
            parts = HUNT_COMMAND.match(command)
            if not parts:
                failures.append(f"{page.relative_to(root)}: a hunt's transcript runs {command!r}")
                continue
            run = subprocess.run([str(build / parts[1]), parts[2], str(build / parts[3])],
                                 capture_output=True, text=True, timeout=90)
            if shape(run.stdout.splitlines()) != shape(shown):
                failures.append(f"{page.relative_to(root)}: {command[2:]} prints otherwise\n"
                                f"  page:    {shown}\n  program: {run.stdout.splitlines()}")
    return failures, count


def check_transcripts(root, bin_dir):
    failures, count = check_hunt_transcripts(root, bin_dir)
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

# What a reader must never see as text. Doxygen's own internals and HTML tags
# shown as text are wrong anywhere, code included; commands and labels only
# outside code, since a source listing may show a documentation comment that
# uses them.
LEAKED_ANYWHERE = re.compile(r"\\ilinebr|markdownTable\w*|</?t[dhr]\b|</?(?:tt|code)>|\u2018")
# A table cell escapes its pipes (GitHub shows `a \\|\\| b` as a || b).
LEAKED_IN_CELLS = re.compile(r"\\\|")
# A backtick outside code is a code span Doxygen did not take as one.
# So is a ** that Doxygen did not take as bold (it will not open bold before
# a quote: **"Closed" ...**).
LEAKED_IN_PROSE = re.compile(r"\\(?:snippet|subpage|ref|page|section|subsection)\b|\{#[\w-]+\}|`|\*\*")
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
        self.details = []  # [summary text, other text] of each open <details>
        self.folds = []  # the same, of each closed one

    def handle_starttag(self, tag, attrs):
        if tag in VOID_TAGS:
            return
        if tag == "details":
            self.details.append(["", ""])
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
        if tag == "details" and self.details:
            self.folds.append(self.details.pop())
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
        if self.details:
            in_summary = any(t == "summary" for t, _ in self.open)
            self.details[-1][0 if in_summary else 1] += data
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
        # A hint (<details>) folds its text under its summary. Doxygen 1.9.4
        # closes the element at a paragraph's end: a summary alone, then the
        # text under a browser's default "Details" (docs/markdown_filter.py
        # folds each block into one paragraph for it).
        for summary, body in collector.folds:
            if not summary.strip() or not body.strip():
                shown = " ".join((summary or body).split())[:60]
                failures.append(f"{page.name}: shows a <details> with "
                                f"{'no summary' if not summary.strip() else 'nothing under'} "
                                f"\"{shown}\"")
        # A title twice in a row: a Markdown link beside a \subpage to the same page.
        for before, link in zip(collector.links, collector.links[1:]):
            if before[:3] == link[:3] and not link[3].strip(" \n:,;.()"):
                failures.append(f"{page.name}: shows {link[2]!r} twice in a row")
    if not count:
        failures.append(f"no HTML in {html_dir}")
    return failures, f"{count} pages"


if __name__ == "__main__":
    check, args = sys.argv[1], [pathlib.Path(a) for a in sys.argv[2:]]
    failures, summary = {"listings": check_listings, "host-links": check_host_links,
                         "transcripts": check_transcripts, "links": check_links,
                         "rendering": check_rendering}[check](*args)
    for failure in failures:
        print(failure, file=sys.stderr)
    print(f"{check}: {summary}, {len(failures)} failed")
    sys.exit(1 if failures else 0)
