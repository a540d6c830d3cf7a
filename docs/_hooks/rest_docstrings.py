"""Griffe extension: render the reST idioms of mertk's docstrings as Markdown.

mertk's docstrings are Google style but keep two reST habits that read well in ``help()``:
literal blocks introduced by ``::``, bare doctest lines and Sphinx roles (``:class:`mertk.api.Dataset```). This
extension rewrites both while the site is built, so the source stays as it is:

- ``Text::`` + indented block -> ``Text:`` + a fenced code block (language guessed);
- ``>>>`` doctest lines -> a fenced ``pycon`` block (``# doctest:`` flags dropped), except in an
  ``Examples:`` section, which griffe's Google parser already renders as ``pycon`` code;
- ``:class:`~a.b.C``` -> an optional cross-reference to ``a.b.C`` (a link when that object is
  documented on the site, plain code otherwise).
"""

from __future__ import annotations

import re
import textwrap
from typing import Any

import griffe

ROLE = re.compile(r":(?:class|func|meth|mod|data|attr|obj|exc):`(~?)([\w.]+)`")


def _language(block: str) -> str:
    lines = [line for line in block.splitlines() if line.strip()]
    if lines and all(re.match(r"\s*(\$ |mertk |python |pip |mkdocs |#)", line) for line in lines):
        return "bash"
    if any(re.match(r"\s*(import |from |def |class |@|>>> |\w+ = |\w+\()", line) for line in lines):
        return "python"
    if lines and all(re.match(r"\s*(- |#|[\w.-]+:( |$))", line) for line in lines):
        return "yaml"
    return "text"


def literal_blocks(text: str) -> str:
    """Turn every ``::``-introduced indented block of ``text`` into a fenced block."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        out_line = line
        if line.rstrip().endswith("::") and i + 1 < len(lines) and not lines[i + 1].strip():
            indent = len(line) - len(line.lstrip())
            j = i + 1
            block: list[str] = []
            while j < len(lines) and (not lines[j].strip() or len(lines[j]) - len(lines[j].lstrip()) > indent):
                block.append(lines[j])
                j += 1
            while block and not block[-1].strip():
                block.pop()
                j -= 1
            if block:
                stripped = line.rstrip()[:-2].rstrip()
                pad = " " * indent
                body = textwrap.dedent("\n".join(block).strip("\n"))
                out.append(stripped + ":" if stripped.strip() else "")
                out.append("")
                out.append(f"{pad}```{_language(body)}")
                out.extend(pad + b if b else "" for b in body.split("\n"))
                out.append(f"{pad}```")
                i = j
                continue
        out.append(out_line)
        i += 1
    return "\n".join(out)


DOCTEST_FLAG = re.compile(r"\s*# doctest:.*$")
EXAMPLES_SECTION = re.compile(r"(\s*)Examples?:\s*$")


def doctest_blocks(text: str) -> str:
    """Fence each run of ``>>>`` lines (with their ``...`` continuations and output) as ``pycon``,
    outside the ``Examples:`` sections (griffe parses those itself)."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    in_fence = False
    examples_indent: int | None = None  # indent of the Examples: header while inside that section
    while i < len(lines):
        line = lines[i]
        indent = len(line) - len(line.lstrip())
        if examples_indent is not None and line.strip() and indent <= examples_indent:
            examples_indent = None
        header = EXAMPLES_SECTION.match(line)
        if header and not in_fence:
            examples_indent = len(header.group(1))
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        if in_fence or examples_indent is not None or not line.lstrip().startswith(">>>"):
            out.append(line)
            i += 1
            continue
        pad = line[: len(line) - len(line.lstrip())]
        block = []
        while i < len(lines) and lines[i].strip() and lines[i].startswith(pad):
            block.append(DOCTEST_FLAG.sub("", lines[i][len(pad):]))
            i += 1
        if out and out[-1].strip():
            out.append("")
        out.extend([f"{pad}```pycon", *(pad + b for b in block), f"{pad}```"])
    return "\n".join(out)


def _role(match: re.Match[str]) -> str:
    short, ident = match.group(1), match.group(2)
    title = ident.rsplit(".", 1)[-1] if short else ident
    return f'<autoref identifier="{ident}" optional><code>{title}</code></autoref>'


def to_markdown(text: str) -> str:
    return ROLE.sub(_role, doctest_blocks(literal_blocks(text)))


class RestDocstrings(griffe.Extension):
    """Rewrite each loaded object's docstring (see the module docstring)."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = to_markdown(obj.docstring.value)
