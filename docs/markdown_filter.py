#!/usr/bin/env python3
"""Doxygen input filter for the Markdown pages (FILTER_PATTERNS in the Doxyfile).

The pages link to source files relatively, e.g. `[main.cpp](main.cpp)`, which
a code host follows to the file. In the generated site that file is a page of
its own, so the link becomes `\\ref chapters/NN_name/main.cpp "main.cpp"`.
Links to other Markdown pages and to URLs are left for Doxygen to handle.

It also adds what only Doxygen reads, so that the pages themselves show
nothing raw on a code host (doxygen_only_syntax() below).

The rest adapts what a code host shows well to Doxygen 1.9.4, and leaves the
Markdown as a code host wants it: code spans Doxygen misreads are rewritten
(code_spans_for_doxygen(), also run on the C++ sources' documentation
comments), the tutorial's links build the site's tree (links_to_subpages()),
an image linked from another folder is found where Doxygen looks for images
(images_for_doxygen()), and pages with sections get a table of contents
(table_of_contents()).
"""
import pathlib
import re
import sys

page = pathlib.Path(sys.argv[1]).resolve()
root = pathlib.Path(__file__).resolve().parent.parent


# --- Doxygen-only syntax, kept out of the pages ------------------------------

def page_id(path):
    """A page's id (its \\ref and \\subpage name), from where it lives:
    chapters/NN_name/README.md is chNN_name, docs/NAME.md is NAME; the
    practice pages: exercises/README.md is exercises, exercises/NN_name/README.md
    exNN_name, and so for bughunts/ (huntNN_name). The top-level README.md is
    the main page and needs none."""
    relative = path.relative_to(root)
    if relative.parts[0] == "chapters" and relative.name == "README.md":
        return "ch" + relative.parent.name
    practice = {"exercises": "ex", "bughunts": "hunt"}
    if relative.parts[0] in practice and relative.name == "README.md":
        if len(relative.parts) == 2:
            return relative.parts[0]
        return practice[relative.parts[0]] + relative.parent.name
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
    if "://" not in target and ".md#" in target:
        # A section of another page. Doxygen names sections autotoc_mdN, not
        # by the code host's slugs, so in the site the link goes to the page.
        return f"[{text}]({target.split('#')[0]})"
    if "://" in target or target.endswith(".md") or target.startswith("#"):
        return match[0]
    source = (page.parent / target).resolve()
    if source.suffix not in (".cpp", ".hpp") or not source.is_file():
        return match[0]
    return f'\\ref {source.relative_to(root).as_posix()} "{text}"'


IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)\)")
IMAGE_DIR = root / "docs"  # In the Doxyfile's IMAGE_PATH.


def images_for_doxygen(text):
    """An image is linked relative to its page, which is what a code host
    follows: a chapter shows a chart as `../../docs/benchmarks/NAME.svg`.
    Doxygen finds an image through IMAGE_PATH instead (and copies it into
    the site), and takes a path with `..` for an outside URL that the site
    does not have. So an image under docs/ is named relative to docs/:
    `benchmarks/NAME.svg`."""
    def relative(match):
        target = match[2]
        if "://" in target:
            return match[0]
        image = (page.parent / target).resolve()
        if not image.is_file() or not image.is_relative_to(IMAGE_DIR):
            return match[0]
        return f"![{match[1]}]({image.relative_to(IMAGE_DIR).as_posix()})"
    return IMAGE.sub(relative, text)


BACKTICKS = re.compile(r"`+")
FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
DOC_COMMENT = re.compile(r"///|//!")


def respan_line(line):
    """Rewrites the code spans of `line` that Doxygen 1.9.4 would misread
    (see code_spans_for_doxygen())."""
    out, copied, runs, i = [], 0, list(BACKTICKS.finditer(line)), 0
    table_row = line.lstrip().startswith("|")
    while i < len(runs):
        opening = runs[i]
        closing = next((j for j in range(i + 1, len(runs))
                        if len(runs[j][0]) == len(opening[0])), None)
        if closing is None or line[opening.start() - 1:opening.start()] == "\\":
            i += 1  # A lone or escaped backtick is literal text.
            continue
        content = line[opening.end():runs[closing].start()]
        if table_row and "\\|" in content:
            code = content.strip().replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            out += [line[copied:opening.start()], "<code>", code, "</code>"]
            copied = runs[closing].end()
        elif len(opening[0]) == 1 and "'" in content:
            out += [line[copied:opening.start()], "``", content, "``"]
            copied = runs[closing].end()
        i = closing + 1
    return "".join(out) + line[copied:]


def ends_block(stripped, fence):
    """A fence closes with at least as many of its characters and nothing else."""
    if fence == "\\endcode":
        return stripped.startswith(fence)
    return len(stripped) >= len(fence) and stripped == fence[0] * len(stripped)


def code_spans_for_doxygen(text, comments_only=False):
    """Two kinds of code span that a code host shows right and Doxygen 1.9.4
    does not:

    - A single-backtick span holding a ' followed by a character that cannot
      be part of a name (`'localhost'`, `b'a\\n'`): Doxygen reads it as
      old-style `quoting', so the span becomes text with a stray opening
      quote, and in a table it swallows the cells that follow. With two
      backticks Doxygen, like CommonMark, takes it as code.
    - A span with escaped pipes in a table row (`a \\|\\| b`): a code host
      shows a || b, Doxygen shows the backslashes. As <code> (its & < >
      escaped), Doxygen drops them too.

    Fenced blocks (and \\code blocks in comments) are code already and stay
    untouched; in C++ files only the documentation comments are changed, and
    every line stays where it was."""
    lines, fence = text.splitlines(keepends=True), None
    for number, line in enumerate(lines):
        start = 0
        if comments_only:
            comment = DOC_COMMENT.search(line)
            if not comment:
                continue
            start = comment.end()
        body = line[start:]
        if fence is not None:
            if ends_block(body.strip(), fence):
                fence = None
        elif marker := FENCE.match(body):
            fence = marker[1]
        elif body.strip().startswith("\\code"):
            fence = "\\endcode"
        else:
            lines[number] = line[:start] + respan_line(body)
    return "".join(lines)


# "<details><summary>Hint 1</summary>", a blank line, the hint, a blank
# line, "</details>": the form a code host wants (without the blank lines it
# shows the hint's Markdown raw).
DETAILS = re.compile(r"^<details>[^\n]*\n(.*?)^</details>[ \t]*$", re.M | re.S)


def folded_blocks(text):
    """Doxygen 1.9.4 ends a <details> element at the end of its paragraph:
    the hint's blank lines left the summary alone in one element, the hint
    in a second one without a summary (shown as "Details"), and an empty
    third. So each block becomes one paragraph: the blank lines go (two
    paragraphs of a hint are kept apart by <br><br>) and come back after
    the block, so that the lines below keep their numbers (Doxygen's
    warnings name them). A fenced block inside a <details> stays as it is: Doxygen
    cannot fold it, and docs.rendering reports a hint left without its text."""

    def fold(match):
        block = match[0]
        if "```" in block or "~~~" in block:
            return block
        lines = block.split("\n")
        out, blank = [], False
        for line in lines:
            if not line.strip():
                blank = True
                continue
            # A blank line between two lines of the hint (not after the
            # summary, not before the end) was a paragraph break.
            if blank and len(out) > 1 and not line.startswith("</details>"):
                out[-1] += "<br><br>"
            out.append(line)
            blank = False
        # The lines removed come back after the block, so that what follows
        # keeps its line numbers.
        return "\n".join(out) + "\n" * (len(lines) - len(out))

    return DETAILS.sub(fold, text)


CONTENTS_MARKER = "<!-- contents:"
PAGE_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+\.md)\)")
# A page's label: {#label} after its title, or a \page command near the top.
PAGE_LABEL = re.compile(r"\{#([\w-]+)\}|\\page\s+([\w-]+)")


def links_to_subpages(text):
    """A contents page (one holding "<!-- contents: ... -->", the tutorial)
    lists its pages as Markdown links, which a code host follows. Doxygen
    builds the site's tree from \\subpage instead, and showing both would
    name every chapter twice: so below the marker, each link to a page with
    an id (page_id(), or its own {#label}) becomes `\\subpage id "its text"`,
    one title per page."""
    marker = text.find(CONTENTS_MARKER)
    if marker < 0:
        return text

    def to_subpage(match):
        target = (page.parent / match[2]).resolve()
        if not target.is_file():
            return match[0]
        head = "\n".join(target.read_text().split("\n")[:5])
        label = PAGE_LABEL.search(head)
        name = (label[1] or label[2]) if label else page_id(target)
        if not name:
            return match[0]
        title = match[1].replace('"', "'")
        return f'\\subpage {name} "{title}"'

    return text[:marker] + PAGE_LINK.sub(to_subpage, text[marker:])


def table_of_contents(text):
    """A page with sections gets a table of contents in the site, which
    doxygen-awesome's interactive-TOC extension keeps beside the reader as
    they scroll. It goes on the blank line after the title, so every line
    keeps its number (Doxygen's warnings name them); a code host has its own
    outline and never sees the command."""
    lines = text.split("\n")
    sections = sum(line.startswith("## ") for line in lines)
    if sections < 3 or len(lines) < 2 or not lines[0].startswith("# ") or lines[1].strip():
        return text
    lines[1] = "\\tableofcontents"
    return "\n".join(lines)


text = page.read_text()
if page.suffix in (".hpp", ".cpp"):
    sys.stdout.write(code_spans_for_doxygen(text, comments_only=True))
    sys.exit(0)
text = images_for_doxygen(doxygen_only_syntax(text))
text = table_of_contents(links_to_subpages(folded_blocks(code_spans_for_doxygen(text))))
sys.stdout.write(re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", to_ref, text))
