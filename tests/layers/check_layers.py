#!/usr/bin/env python3
"""The layers of common/ stay layers: no include cycle between its parts.

A part is a header and the sources that implement it: `sandbox/server.hpp` is
the part `server`, and so are `src/server.cpp` and `src/accept_loop.cpp`, which
implement members of `server` (a source belongs to the header it includes
first, its own, as the style guide orders includes); the private header
`src/accept_loop.hpp` is the part `accept_loop`. Part A
depends on part B when a file of A includes a header of B. The check fails
when the dependencies form a cycle (server and transport once included each
other: the transport could not be read, tested or changed without the
server), and names the cycle. docs/architecture.md draws the layers.

Usage: check_layers.py COMMON_DIR   (exit 0: no cycle; 1: a cycle, named)
"""
import re
import sys
from pathlib import Path

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def part_of(path: Path) -> str:
    return path.stem


def dependencies(common: Path) -> dict[str, set[str]]:
    headers = {}  # what an #include "..." names -> its part
    for header in (common / "include").rglob("*.hpp"):
        headers[str(header.relative_to(common / "include"))] = part_of(header)
    for header in (common / "src").glob("*.hpp"):
        headers[header.name] = part_of(header)
    graph: dict[str, set[str]] = {}
    for source in list((common / "include").rglob("*.hpp")) + list((common / "src").glob("*.[ch]pp")):
        includes = INCLUDE.findall(source.read_text())
        part = part_of(source)
        if source.suffix == ".cpp" and includes and includes[0] in headers:
            part = headers[includes[0]]
        graph.setdefault(part, set())
        for included in includes:
            other = headers.get(included)
            if other is not None and other != part:
                graph[part].add(other)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle as a list of parts (first == last), or None: a depth-first
    search that meets a part still on its path has found one."""
    on_path: list[str] = []
    state: dict[str, str] = {}  # absent: not seen; "open": on the path; "done"

    def visit(part: str) -> list[str] | None:
        state[part] = "open"
        on_path.append(part)
        for other in sorted(graph.get(part, ())):
            if state.get(other) == "open":
                return on_path[on_path.index(other):] + [other]
            if other not in state:
                found = visit(other)
                if found:
                    return found
        on_path.pop()
        state[part] = "done"
        return None

    for part in sorted(graph):
        if part not in state:
            found = visit(part)
            if found:
                return found
    return None


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    common = Path(sys.argv[1])
    graph = dependencies(common)
    if not graph:
        print(f"check_layers: no sources under {common}", file=sys.stderr)
        return 2
    cycle = find_cycle(graph)
    if cycle:
        print("include cycle in common/: " + " -> ".join(cycle), file=sys.stderr)
        return 1
    print(f"layers: {len(graph)} parts of common/, no include cycle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
