"""MkDocs hook: the optional-abilities table (``<!-- optional-abilities -->``) of the contracts page.

Generated from :data:`mertk.api.ABILITIES`, so the page lists exactly the protocols mertk tests
components against: per ability, the kinds it applies to, its members (with their types or
signatures), the protocol to ``isinstance`` against, and its docstring.
"""

from __future__ import annotations

import inspect
import re
import typing

MARKER = "<!-- optional-abilities -->"


def members(protocol: type) -> list[str]:
    """The protocol's own members: ``name: type`` for attributes, ``name(arguments)`` for methods."""
    out = []
    hints = typing.get_type_hints(protocol, include_extras=False) if protocol.__annotations__ else {}
    for name in protocol.__annotations__:
        annotation = hints.get(name, protocol.__annotations__[name])
        text = getattr(annotation, "__name__", None) or re.sub(r"\b(typing|collections\.abc)\.", "", str(annotation))
        out.append(f"{name}: {text.replace(' | ', ' or ')}")
    for name, value in vars(protocol).items():
        if inspect.isfunction(value) and not name.startswith("_"):
            parameters = [p for p in inspect.signature(value).parameters.values() if p.name != "self"]
            out.append(f"{name}({', '.join(str(p).split(':')[0] for p in parameters)})")
    return out


def table() -> str:
    """The markdown table of every ability in :data:`mertk.api.ABILITIES`."""
    from mertk.api import ABILITIES

    rows = ["| kind | on the | member | protocol (`mertk.api`) | effect |", "|---|---|---|---|---|"]
    for ability in ABILITIES:
        protocol = ability.protocol
        doc = " ".join(inspect.cleandoc(protocol.__doc__ or "").split())
        doc = re.sub(r":\w+:`~?([\w.]+)`", r"`\1`", doc).replace("``", "`")  # reST roles and literals
        kinds = ", ".join(f"`{k}`" for k in ability.kinds) if ability.kinds != ("any",) else "any"
        member = "<br>".join(f"`{m}`" for m in members(protocol))
        rows.append(f"| {kinds} | {ability.on} | {member} | [`{protocol.__name__}`](../reference/api.md) | "
                    f"{doc.replace('|', '&#124;')} |")
    return "\n".join(rows)


def on_page_markdown(markdown: str, page, config, files) -> str:
    return markdown.replace(MARKER, table()) if MARKER in markdown else markdown
