"""Adds ``mertk spot`` and ``mertk analyze``, and the bundled spotting configs, through mertk's hooks."""

from __future__ import annotations

from pathlib import Path

from mertk.hookspecs import hookimpl


@hookimpl
def register_commands(cli) -> None:
    from mertk.spotting.cli import analyze, spot

    cli.add_command(spot)
    cli.add_command(analyze)


@hookimpl
def register_config_dirs(register) -> None:
    register(Path(__file__).parent / "configs")
