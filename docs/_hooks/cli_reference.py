"""MkDocs hook: ``<!-- cli-reference -->`` becomes the ``--help`` of every ``mertk`` command.

The text comes from the click commands themselves at build time (core commands and those that
mertk's own plugins add), so the page cannot drift from the CLI.
"""

from __future__ import annotations

from collections.abc import Iterator

import click

MARKER = "<!-- cli-reference -->"


def _walk(command: click.Command, ctx: click.Context) -> Iterator[tuple[str, str]]:
    """``(command path, help text)`` of ``command`` and, for groups, of every subcommand."""
    yield ctx.command_path, command.get_help(ctx)
    if isinstance(command, click.Group):
        for name in sorted(command.list_commands(ctx)):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                yield from _walk(sub, click.Context(sub, info_name=name, parent=ctx))


def reference() -> str:
    from mertk.cli import build_cli

    cli = build_cli([])
    parts = []
    for path, text in _walk(cli, click.Context(cli, info_name="mertk")):
        parts += [f"## `{path}`", "", "```text", text.rstrip(), "```", ""]
    return "\n".join(parts)


def on_page_markdown(markdown: str, page, config, files) -> str:
    return markdown.replace(MARKER, reference()) if MARKER in markdown else markdown
