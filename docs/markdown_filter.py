#!/usr/bin/env python3
"""Doxygen input filter for the Markdown pages (FILTER_PATTERNS in the Doxyfile).

The pages link to source files relatively, e.g. `[main.cpp](main.cpp)`, which
a code host follows to the file. In the generated site that file is a page of
its own, so the link becomes `\\ref chapters/NN_name/main.cpp "main.cpp"`.
Links to other Markdown pages and to URLs are left for Doxygen to handle.

It also adds what only Doxygen reads, so that the pages themselves show
nothing raw on a code host (doxygen_only_syntax() below).
"""
import pathlib
import re
import sys

page = pathlib.Path(sys.argv[1]).resolve()
root = pathlib.Path(__file__).resolve().parent.parent


# --- Doxygen-only syntax, kept out of the pages ------------------------------

def page_id(path):
    """A page's id (its \\ref and \\subpage name), from where it lives:
    chapters/NN_name/README.md is chNN_name, docs/NAME.md is NAME. The
    top-level README.md is the main page and needs none."""
    relative = path.relative_to(root)
    if relative.parts[0] == "chapters" and relative.name == "README.md":
        return "ch" + relative.parent.name
    if relative.parts[0] == "docs":
        return relative.stem
    return None


# "<!-- msc ...diagram... -->", then the ```text block a code host shows
# instead (tests/docs/check_docs.py writes it from the diagram).
MSC_COMMENT = re.compile(r"^<!-- msc\b[^\n]*\n(.*?)^-->\n(?:\n*```text\n.*?^```[ \t]*\n)?",
                         re.M | re.S)


def doxygen_only_syntax(text):
    """The page's title gets its id ("# Title {#id}", unless it has one), and
    each sequence diagram kept in an HTML comment becomes \\msc ... \\endmsc,
    its text form for code hosts dropped."""
    name = page_id(page)
    if name:
        text = re.sub(r"\A(# (?:(?!\{#).)*?)[ \t]*$", rf"\1 {{#{name}}}", text, count=1, flags=re.M)
    return MSC_COMMENT.sub(lambda match: "\\msc\n" + match[1] + "\\endmsc\n", text)


def to_ref(match):
    text, target = match[1], match[2]
    if "://" in target or target.endswith(".md") or target.startswith("#"):
        return match[0]
    source = (page.parent / target).resolve()
    if source.suffix not in (".cpp", ".hpp") or not source.is_file():
        return match[0]
    return f'\\ref {source.relative_to(root).as_posix()} "{text}"'


sys.stdout.write(re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", to_ref, doxygen_only_syntax(page.read_text())))
