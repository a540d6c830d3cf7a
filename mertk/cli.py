"""The ``mertk`` command line: assembles core's commands and those plugins add into one group.

User errors (:class:`~mertk.errors.MertkError`) print one message and exit 1 without a
traceback; ``mertk --debug ...`` shows it. Ctrl-C (SIGINT) and SIGTERM stop a command cleanly
(:mod:`mertk.interrupts`): it prints what was kept and how to continue, and exits with 128 +
the signal number (130, 143). Plugins add commands through the
``register_commands`` hook; every invocation builds its own command group and plugin manager.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from mertk.cli_app import App, pass_app, set_option
from mertk.clihelp import plain_help
from mertk.errors import MertkError
from mertk.interrupts import Interrupted, signals_interrupt

__all__ = ["App", "build_cli", "main", "pass_app", "set_option"]


def _version() -> str:
    from mertk import __version__

    return __version__


def _scan_plugin_args(argv: Sequence[str]) -> tuple[tuple[str, ...], bool | None]:
    """Read ``--plugin`` / ``--no-autoload`` before click parses, so plugin commands exist."""
    paths: list[str] = []
    autoload: bool | None = None
    it = iter(argv)
    for arg in it:
        if arg == "--plugin":
            paths.append(next(it, ""))
        elif arg.startswith("--plugin="):
            paths.append(arg.split("=", 1)[1])
        elif arg == "--no-autoload":
            autoload = False
        elif arg == "--":
            break
    return tuple(paths), autoload


class _Group(click.Group):
    """A click group that shows :class:`MertkError` as one message (exit 1), unless ``--debug``, and
    an interrupt as its hint (exit 128 + the signal number)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except MertkError as exc:
            if isinstance(ctx.obj, App) and ctx.obj.debug:
                raise
            raise click.ClickException(str(exc)) from None
        except KeyboardInterrupt as exc:  # before click turns it into "Aborted!" and exit 1
            ctx.exit(_report_interrupt(exc))


def _report_interrupt(exc: KeyboardInterrupt) -> int:
    """Print the interrupt's hint (or that the command was interrupted); its exit status."""
    interrupted = exc if isinstance(exc, Interrupted) else Interrupted.of(exc)
    click.echo(interrupted.hint or interrupted.what, err=True)
    return interrupted.exit_code


def build_cli(argv: Sequence[str] = ()) -> click.Group:
    """Make the ``mertk`` command group, with the commands plugins add for these arguments."""
    paths, autoload = _scan_plugin_args(argv)
    app = App(plugin_paths=paths, autoload=autoload)

    @click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
    @click.version_option(_version(), "--version", prog_name="mertk")
    @click.option("--debug", is_flag=True, help="Show full tracebacks for errors.")
    @click.option("--plugin", "plugin_paths", multiple=True, metavar="PATH",
                  help="Load a plugin module file or folder for this run (repeatable).")
    @click.option("--no-autoload", is_flag=True,
                  help="Do not load third-party plugins from entry points "
                       "(same as MERTK_DISABLE_PLUGIN_AUTOLOAD=1).")
    @click.pass_context
    def cli(ctx: click.Context, debug: bool, plugin_paths: tuple[str, ...], no_autoload: bool) -> None:
        """mertk: micro-expression recognition toolkit."""
        app.debug = debug
        ctx.obj = app

    from mertk import commands

    for command in commands.CORE_COMMANDS:
        cli.add_command(command)
    app.plugin_manager.hook.register_commands(cli=cli)
    plain_help(cli)  # docstrings are reST for the API reference; --help shows plain text
    return cli


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point: run ``mertk``; user errors become one message and exit code 1, SIGINT and
    SIGTERM exit 130 and 143 after the command has cleaned up."""
    argv = list(sys.argv[1:] if argv is None else argv)
    with signals_interrupt():
        try:
            cli = build_cli(argv)
        except MertkError as exc:  # a plugin failed to load
            if "--debug" in argv:
                raise
            click.echo(f"Error: {exc}", err=True)
            sys.exit(1)
        except KeyboardInterrupt as exc:
            sys.exit(_report_interrupt(exc))
        cli.main(args=argv, prog_name="mertk")
