"""Plain-text ``--help``: the reST markup of docstrings, removed from every command's help.

Click takes a command's help from its function's docstring, which is written for the API
reference (reST: ``literal``, :class:`~mertk.errors.MertkError`). A terminal shows that markup
as it is, so :func:`plain_help` rewrites the help of a command, its options and, for a group,
every subcommand, once, after core and plugins have added their commands.

>>> plain_text("with ``on_error: stop`` a :class:`~mertk.errors.MertkError` ends it::")
"with 'on_error: stop' a MertkError ends it:"
"""

from __future__ import annotations

import re

import click

__all__ = ["plain_text", "plain_help"]

_ROLE = re.compile(r":(?:class|func|meth|mod|data|attr|obj|exc|ref|doc):`(~?)([^`]+)`")
_LITERAL = re.compile(r"``(.+?)``", re.DOTALL)
_LITERAL_BLOCK = re.compile(r"::$", re.MULTILINE)


def _role(match: re.Match[str]) -> str:
    name = match.group(2)
    return name.rsplit(".", 1)[-1] if match.group(1) else name


def _literal(match: re.Match[str]) -> str:
    text = match.group(1)
    return f'"{text}"' if "'" in text else f"'{text}'"


def plain_text(text: str) -> str:
    """``text`` without reST roles (``:class:`~a.B``` -> ``B``), with inline literals quoted
    (````x```` -> ``'x'``) and a literal block's ``::`` as ``:``."""
    return _LITERAL_BLOCK.sub(":", _LITERAL.sub(_literal, _ROLE.sub(_role, text)))


def plain_help(command: click.Command) -> None:
    """Rewrite, in place, the help texts of ``command``, its parameters and (for a group) every
    subcommand, recursively, with :func:`plain_text`."""
    for attribute in ("help", "short_help", "epilog"):
        value = getattr(command, attribute, None)
        if isinstance(value, str):
            setattr(command, attribute, plain_text(value))
    for param in command.params:
        if isinstance(getattr(param, "help", None), str):
            param.help = plain_text(param.help)
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            plain_help(sub)
