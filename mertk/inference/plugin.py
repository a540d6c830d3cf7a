"""Adds the ``mertk predict`` and ``mertk explain`` commands through mertk's hooks."""

from __future__ import annotations

from mertk.hookspecs import hookimpl


@hookimpl
def register_commands(cli) -> None:
    from mertk.inference.cli import explain, predict

    cli.add_command(predict)
    cli.add_command(explain)
