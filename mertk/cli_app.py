"""What every ``mertk`` command shares: the :class:`App` context object and common options.

Command modules (core's, the built-in plugins' and third-party ones) import this module;
:mod:`mertk.cli` only assembles the commands into one group, so no command module imports it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

__all__ = ["App", "pass_app", "set_option", "run_folder_options"]


@dataclass
class App:
    """What every command gets as ``ctx.obj``: plugin options and lazily loaded components."""

    plugin_paths: tuple[str, ...] = ()
    debug: bool = False
    autoload: bool | None = None
    _pm: object = field(default=None, repr=False)

    @functools.cached_property
    def plugin_manager(self):
        if self._pm is None:
            from mertk.plugins import plugin_manager

            self._pm = plugin_manager(extra=self.plugin_paths, autoload=self.autoload)
        return self._pm

    @functools.cached_property
    def components(self):
        from mertk.plugins import load_components

        return load_components(self.plugin_manager)

    def config(self, name: str | Path, overrides: Sequence[str] = (), *, schema=None):
        """Find, read and validate a run config (bundled names work too); ``schema``: another
        command's config model instead (``mertk spot``'s)."""
        from mertk.config import load_config

        return load_config(name, self.components, overrides, schema=schema)


pass_app = click.make_pass_decorator(App)
set_option = click.option(
    "--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE",
    help="Override a config value, e.g. --set train.epochs=5 (repeatable).",
)


def run_folder_options(what: str, kept: str, operational: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--resume RUN_DIR`` and ``--run-dir``, for a command that writes a run folder (``mertk run``, ``mertk spot``).

    Args:
        what: The run, in the help text (``"run"``, ``"spotting run"``).
        kept: What a resume keeps (``"finished folds"``).
        operational: The settings that may differ on resume (``"executor, output, threads"``).
    """
    resume = click.option(
        "--resume", "resume_dir", type=click.Path(file_okay=False, path_type=Path),
        help=f"Continue an interrupted {what} in RUN_DIR; {kept} are kept. Only where and how it runs "
             f"({operational}) may differ from how it started.")
    run_dir = click.option("--run-dir", type=click.Path(file_okay=False, path_type=Path),
                           help="Write the run here instead of a new folder under output.dir.")
    return lambda command: resume(run_dir(command))
