#!/usr/bin/env python3
"""Runs the pages' recipes with the real tools, as a reader would.

    check_recipes.py ROOT BIN [PAGE...]

A recipe is what a reader does in a few terminals: start a server in one,
`telnet`, `nc` or `redis-cli` in another, type, and look. A page writes it as a marker
followed by one fenced `console` block per terminal, each showing that
terminal's screen as the reader sees it:

    <!-- recipe: 2:abc⏎ "2:^]" "2:quit⏎" -->
    ```console
    $ build/dev/chapters/ch01_protocol_echo_server
    Serving on localhost:2222
    ...
    ```
    ```console
    $ telnet localhost 2222
    ...
    ```

A screen that ends with a line `$` says that its command has ended (the
shell's prompt is back); one without it, that the command is still running
when the reader stops looking (and the check then ends it).

The marker lists the keys the reader presses, in order (shell quoting):
`N:TEXT` types TEXT in terminal N (counted from 1, in the page's order),
with `⏎` for Enter and `^X` for Ctrl-X; `N:start` starts terminal N there
(a terminal not started so starts at the beginning, in order); `N:end`
waits until terminal N's command has ended; `wait:S` waits S seconds.
Two words change what counts as the same: `any-thread` lets `[thread N]`
be any thread (a pool runs a handler on whichever thread is free; the page
shows one run), and `any-figure` lets every number differ (times and sizes
measured by the run; the words around them are still checked).

Each terminal is a real pseudo-terminal of 80 columns and 24 rows, so the
tools behave as on a reader's screen: the terminal driver echoes what is
typed, telnet reads whole lines, `^C` is a signal, `^D` an end of file. A
tool that edits its own line (redis-cli, through linenoise) redraws it with
carriage returns and cursor movements; the check draws the screen as a
terminal would (screen_lines()), so the page shows what the reader sees.

Before each key the check waits until every screen has been still for a
moment (and a new terminal until it shows something, for up to
START_WAIT), and at the end until every screen shows what the page shows
(each within a deadline, so a loaded machine is slower, not wrong). Then
it compares, screen by screen.

A line `...` on a page's screen stands for any number of lines (a flood of
output the reader needs not see). What may also differ from the page: the
port (the page says 2222, 8888 or 6380, chapter 13's; the check uses free
ones and puts the page's number back), a client's own port
(`127.0.0.1:PORT`), and the address telnet tries first for `localhost`
(`::1` or `127.0.0.1`, as /etc/hosts says). `build/dev/chapters/` in a
command means BIN, and a chapter's program (or its reference.py) is given
the port it would have taken by default, if it has a --port (chapter 11's
programs have none). Status 77 (a CTest skip) when a tool the pages' recipes
run (telnet, nc, redis-cli) is missing.

`python3 -m doctest tests/docs/check_recipes.py` checks the screen drawing.
"""
import fcntl
import os
import pathlib
import pty
import re
import select
import shlex
import shutil
import signal
import socket
import subprocess
import struct
import sys
import termios
import time

SKIP = 77
QUIET = 0.3      # A screen still for this long has (for now) said everything.
START_WAIT = 2.0  # How long a new terminal may take to show its first words.
DEADLINE = 15.0  # No wait lasts longer than this, however loaded the machine.
PAGE_PORTS = ("2222", "8888", "6380")
# The tools a recipe may run, and the Debian package of each.
TOOLS = {"telnet": "telnet", "nc": "netcat-openbsd", "redis-cli": "redis-tools"}
ROWS, COLUMNS = 24, 80
KEYS = {"⏎": "\r"}
OPTIONS = ("any-thread", "any-figure")  # Marker words that are not keys.


def keys(text):
    """`abc⏎` -> b"abc\\r"; `^]` -> b"\\x1d" (Ctrl and the key's ASCII - 64)."""
    for symbol, code in KEYS.items():
        text = text.replace(symbol, code)
    text = re.sub(r"\^([@-_?])", lambda m: chr(ord(m[1]) ^ 0x40), text)
    return text.encode()


class Terminal:
    """A command run by bash on a pseudo-terminal of its own, with its screen."""

    def __init__(self, command, cwd):
        self.command = command
        self.screen = b""
        self.ended = False  # Its screen shows nothing more: every writer has gone.
        self.master, slave = pty.openpty()
        # A pseudo-terminal starts with no size. A line editor (redis-cli's)
        # then asks the terminal where its cursor is and waits for an answer
        # that never comes: give it a reader's size.
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
        # A session of its own: the pty is its controlling terminal, so ^C and
        # ^Z reach the command's process group, as in a reader's terminal.
        self.process = subprocess.Popen(["bash", "-c", command], stdin=slave, stdout=slave,
                                        stderr=slave, cwd=cwd, start_new_session=True)
        os.close(slave)

    def read(self):
        """Takes whatever the terminal shows now; False once it shows nothing more."""
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: every process holding the pty has ended.
            data = b""
        self.screen += data
        self.ended = not data
        return bool(data)

    def type(self, data):
        os.write(self.master, data)

    def close(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        os.close(self.master)


def pump(terminals, seconds):
    """Reads every terminal for `seconds`; True if any showed something new."""
    changed, end = False, time.monotonic() + seconds
    open_ = {t.master: t for t in terminals if not t.ended}
    if not open_:
        time.sleep(seconds)
    while open_:
        ready, _, _ = select.select(list(open_), [], [], max(0.0, end - time.monotonic()))
        if not ready:
            break
        for fd in ready:
            if open_[fd].read():
                changed = True
            else:
                del open_[fd]
    return changed


def settle(terminals):
    """Waits until no screen has changed for QUIET seconds (at most DEADLINE)."""
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end and pump(terminals, QUIET):
        pass


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def screen_lines(text):
    """The lines a terminal shows after `text` was written to it: a carriage
    return goes back to the start of the line, what follows overwrites;
    `ESC[nC` and `ESC[nD` move the cursor right and left, `ESC[K` erases to
    the end of the line (`ESC[2K` all of it); other escape sequences (colours,
    a question about the cursor) draw nothing. A line editor draws this way:

    >>> screen_lines("> \\r\\x1b[0K> S\\r\\x1b[3C\\r\\x1b[0K> SE\\r\\x1b[4C\\r\\nOK\\r\\n> ")
    ['> SE', 'OK', '> ']
    >>> screen_lines("abcdef\\r\\x1b[2Cxy\\x1b[K\\n\\x1b[1;31mred\\x1b[0m")
    ['abxy', 'red']
    >>> screen_lines("hello\\r\\n^CShutting down\\r\\r\\n")
    ['hello', '^CShutting down', '']
    """
    lines, column = [""], 0
    for match in re.finditer(r"\x1b\[([0-9;?]*)([A-Za-z])|\x1b.?|\r|\n|\x08|[^\x1b\r\n\x08]+",
                             text, re.S):
        token, line = match[0], lines[-1]
        if token == "\r":
            column = 0
        elif token == "\n":
            lines.append("")
            column = 0
        elif token == "\x08":
            column = max(0, column - 1)
        elif match[2]:
            count = int(match[1]) if match[1].isdigit() else 1
            if match[2] == "C":
                column += count
            elif match[2] == "D":
                column = max(0, column - count)
            elif match[2] == "K":
                lines[-1] = "" if match[1] == "2" else line[:column]
        elif not token.startswith("\x1b"):
            line = line.ljust(column)
            lines[-1] = line[:column] + token + line[column + len(token):]
            column += len(token)
    return lines


def lines_of(terminal, ports):
    """What a screen shows, line by line, normalised (see the module's doc),
    and a last line `$` once the command has ended: the shell's prompt."""
    text = terminal.screen.decode(errors="replace").replace("\0", "")
    for page_port, port in ports.items():
        text = re.sub(rf"\b{port}\b", page_port, text)
    lines = normalise(screen_lines(text.rstrip("\r\n"))) if text.strip("\r\n") else []
    return lines + ["$"] if terminal.process.poll() is not None else lines


def normalise(lines):
    lines = [re.sub(r"^Trying ::1\.\.\.$", "Trying 127.0.0.1...", line.rstrip())
             for line in lines]
    pages = "|".join(PAGE_PORTS)
    return [re.sub(rf"(127\.0\.0\.1|::1\]?):(?!(?:{pages})\b)\d+", r"\1:PORT", line)
            for line in lines]


def matches(actual, shown):
    """A line `...` in a page's screen stands for any number of lines."""
    if not shown:
        return not actual
    if shown[0] == "...":
        return any(matches(actual[skip:], shown[1:]) for skip in range(len(actual) + 1))
    return bool(actual) and actual[0] == shown[0] and matches(actual[1:], shown[1:])


def recipes_in(page):
    """(line number, steps, [(command, expected screen lines)]) per recipe."""
    text = page.read_text()
    for match in re.finditer(r"<!-- recipe:(.*?)-->\n((?:```console\n.*?```\n?)+)", text, re.S):
        blocks = re.findall(r"```console\n(.*?)```", match[2], re.S)
        terminals = []
        for block in blocks:
            lines = block.rstrip("\n").split("\n")
            if not lines[0].startswith("$ "):
                raise ValueError(f"{page}: a recipe's screen starts with its command")
            terminals.append((lines[0][2:], lines[1:]))
        steps = shlex.split(match[1])
        for step in steps:
            where, _, what = step.partition(":")
            if step in OPTIONS:
                continue
            if not (where == "wait" or where.isdigit() and 1 <= int(where) <= len(terminals)) or not what:
                raise ValueError(f"{page}: a recipe's step {step!r} is not N:KEYS, N:start, "
                                 "N:end or wait:S")
        yield text[:match.start()].count("\n") + 1, steps, terminals


def default_port(bin_dir, program):
    """The port `program` (build/dev/chapters/NAME, or a reference.py)
    serves on or connects to unless told, as its --help says
    (`--port UINT:PORT=6380`: chapter 13's), "2222" when it does not say
    which, or None when it has no --port option."""
    if program.endswith("reference.py"):
        return "2222"
    name = program.rsplit("/", 1)[-1]
    if name not in DEFAULT_PORTS:
        shown = subprocess.run([str(bin_dir / name), "--help"], capture_output=True, text=True)
        said = re.search(r"--port [^\s=]*=(\d+)", shown.stdout)
        DEFAULT_PORTS[name] = said[1] if said else "2222" if "--port" in shown.stdout else None
    return DEFAULT_PORTS[name]


DEFAULT_PORTS = {}  # Program name -> its default port (or None: no --port), asked once.


def run(root, bin_dir, steps, blocks):
    """Plays one recipe; returns a list of failures (empty if it worked)."""
    any_thread, any_figure = "any-thread" in steps, "any-figure" in steps
    steps = [step for step in steps if step not in OPTIONS]

    def seen(lines):
        """Normalised; with any-thread, "[thread 2]" reads "[thread N]"; with
        any-figure, every number reads N."""
        lines = normalise(lines)
        if any_thread:
            lines = [re.sub(r"\[thread \d+\]", "[thread N]", line) for line in lines]
        if any_figure:
            lines = [re.sub(r" *\d+(\.\d+)?", " N", line) for line in lines]
        return lines

    ports = {page_port: str(free_port()) for page_port in PAGE_PORTS}
    commands = []
    for command, _ in blocks:
        # The chapters serve on (or connect to) 2222 unless told, chapter 13
        # on 6380: tell them the free port that stands for it (those that
        # take a port: not chapters 11 and 12's demonstrations).
        def with_port(match):
            default = default_port(bin_dir, match[1])
            if "--port" in command or default is None:
                return match[1]
            return f"{match[1]} --port {ports.get(default, ports['2222'])}"
        command = re.sub(r"(build/dev/chapters/[\w.-]+|chapters/[\w.-]+/reference\.py)",
                         with_port, command)
        command = command.replace("build/dev/chapters/", f"{bin_dir}/")
        for page_port, port in ports.items():
            command = re.sub(rf"\b{page_port}\b", port, command)
        commands.append(command)
    started_later = {int(s.split(":")[0]) for s in steps if s.endswith(":start")}
    terminals = [None] * len(blocks)

    def start(number):
        terminal = terminals[number - 1] = Terminal(commands[number - 1], root)
        # A program that has something to say first (a server's "Serving
        # on", telnet's "Trying") may take a while to start: wait for it.
        # A client that waits for the reader's keys (nc) costs START_WAIT.
        end = time.monotonic() + START_WAIT
        while not terminal.screen and time.monotonic() < end:
            pump([terminal], QUIET)
        settle(live())

    def live():
        return [t for t in terminals if t is not None]

    try:
        for number in range(1, len(blocks) + 1):
            if number not in started_later:
                start(number)
        for step in steps:
            where, _, what = step.partition(":")
            if where == "wait":
                pump(live(), float(what))
            elif what == "start":
                start(int(where))
            elif what == "end":
                terminal, end = terminals[int(where) - 1], time.monotonic() + DEADLINE
                while terminal.process.poll() is None and time.monotonic() < end:
                    pump(live(), QUIET)
            else:
                terminals[int(where) - 1].type(keys(what))
            settle(live())
        # The last screens may take a while (a server's goodbye, a timeout):
        # read until they all match, or until the deadline.
        expected = [shown for _, shown in blocks]
        # A match must last: a command may end (and its `$` show) a moment
        # after its last words.
        end, matched = time.monotonic() + DEADLINE, False
        while time.monotonic() < end:
            actual = [seen(lines_of(t, ports)) for t in terminals]
            if all(matches(a, seen(s)) for a, s in zip(actual, expected)):
                if matched:
                    return []
                matched = True
                time.sleep(QUIET)
            else:
                matched = False
            pump(live(), QUIET)
        failures = []
        for number, (terminal, shown) in enumerate(zip(terminals, expected), 1):
            actual = lines_of(terminal, ports)
            if not matches(seen(actual), seen(shown)):
                failures.append(f"terminal {number} ($ {blocks[number - 1][0]}) shows\n"
                                + "".join(f"    | {line}\n" for line in actual)
                                + "  where the page shows\n"
                                + "".join(f"    | {line}\n" for line in shown))
        return failures
    finally:
        for terminal in live():
            terminal.close()


def main():
    if len(sys.argv) < 3 or not pathlib.Path(sys.argv[2]).is_dir():
        print("usage: check_recipes.py ROOT BIN [PAGE...] (BIN: the directory of the "
              "chapters' programs)", file=sys.stderr)
        return 2
    root, bin_dir = pathlib.Path(sys.argv[1]).resolve(), pathlib.Path(sys.argv[2]).resolve()
    pages = [root / page for page in sys.argv[3:]] or sorted(root.glob("chapters/*/README.md"))
    for page in pages:
        if not page.is_file():
            print(f"check_recipes.py: no page {page}", file=sys.stderr)
            return 2
    failures, found = [], []
    for page in pages:
        name = page.relative_to(root)
        try:
            recipes = list(recipes_in(page))
        except ValueError as error:
            failures.append(str(error))
            continue
        if sys.argv[3:] and not recipes:
            failures.append(f"{name}: no recipe found")
        found += [(name, recipe) for recipe in recipes]
    # The tools the recipes run (a word of a command), all present or skip.
    needed = {word for _, (_, _, blocks) in found for command, _ in blocks
              for word in shlex.split(command)}
    missing = sorted(tool for tool in needed & TOOLS.keys() if not shutil.which(tool))
    if missing:
        print(f"recipes: skipped: {' and '.join(missing)} not installed (Debian: apt-get "
              f"install {' '.join(TOOLS[tool] for tool in missing)})")
        return SKIP
    count = 0
    for name, (number, steps, blocks) in found:
        count += 1
        for failure in run(root, bin_dir, steps, blocks):
            failures.append(f"{name}:{number}: {failure}")
    for failure in failures:
        print(failure, file=sys.stderr)
    print(f"recipes: {count} recipes, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
