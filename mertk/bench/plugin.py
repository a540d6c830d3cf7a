"""Adds the ``mertk bench`` command through mertk's hooks."""

from __future__ import annotations

from mertk.hookspecs import hookimpl


@hookimpl
def register_commands(cli) -> None:
    from mertk.bench.cli import bench

    cli.add_command(bench)
