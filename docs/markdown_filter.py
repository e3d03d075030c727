#!/usr/bin/env python3
"""Doxygen input filter for the Markdown pages (FILTER_PATTERNS in the Doxyfile).

The pages link to source files relatively, e.g. `[main.cpp](main.cpp)`, which
a code host follows to the file. In the generated site that file is a page of
its own, so the link becomes `\\ref chapters/NN_name/main.cpp "main.cpp"`.
Links to other Markdown pages and to URLs are left for Doxygen to handle.
"""
import pathlib
import re
import sys

page = pathlib.Path(sys.argv[1]).resolve()
root = pathlib.Path(__file__).resolve().parent.parent


def to_ref(match):
    text, target = match[1], match[2]
    if "://" in target or target.endswith(".md") or target.startswith("#"):
        return match[0]
    source = (page.parent / target).resolve()
    if source.suffix not in (".cpp", ".hpp") or not source.is_file():
        return match[0]
    return f'\\ref {source.relative_to(root).as_posix()} "{text}"'


sys.stdout.write(re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", to_ref, page.read_text()))
