"""Core ``mertk`` commands: run, plugins, components, config."""

from __future__ import annotations

from pathlib import Path

import click

from mertk.cli_app import App, pass_app, run_folder_options, set_option


@click.command()
@click.argument("config", required=False)
@set_option
@run_folder_options("run", "finished folds", "executor, output, threads")
@pass_app
def run(app: App, config: str | None, overrides: tuple[str, ...], resume_dir: Path | None,
        run_dir: Path | None) -> None:
    """Run the evaluation a CONFIG describes (a file, or a bundled config name).

    With --resume RUN_DIR the config saved in the run folder is used and CONFIG may be left out;
    a --set that changes a result (or an edit of RUN_DIR/config.yaml) is refused, naming the key.
    """
    if resume_dir is not None:
        saved = resume_dir / "config.yaml"
        if not saved.exists():
            raise click.ClickException(f"{resume_dir}: not a mertk run folder (no config.yaml); "
                                       "pass the folder that `mertk run` printed")
        loaded = app.config(saved, overrides)
        run_dir = resume_dir
    elif config is None:
        raise click.UsageError("give a CONFIG (e.g. dual-atme.yaml) or --resume RUN_DIR")
    else:
        loaded = app.config(config, overrides)
    from mertk.engine.runner import run_experiment

    run_experiment(loaded, app.components, run_dir=run_dir, resume=resume_dir is not None)


@click.command()
@pass_app
def plugins(app: App) -> None:
    """List loaded plugins with their package, version and components."""
    from mertk.plugins import plugin_infos

    for info in plugin_infos(app.components):
        click.echo(f"{info.name}  ({info.package} {info.version})")
        for kind, name in sorted(info.components):
            click.echo(f"    {kind:<18} {name}")


@click.command()
@click.argument("kind", required=False)
@click.argument("pattern", required=False, default="*")
@pass_app
def components(app: App, kind: str | None, pattern: str) -> None:
    """List components, optionally of one KIND and matching a shell-style PATTERN.

    \b
    Examples:
      mertk components                 # everything installed, by kind
      mertk components attention       # one kind
      mertk components "dual-*"        # names matching a pattern, of any kind
      mertk components model "*net"    # of one kind
    """
    from mertk.errors import MertkError
    from mertk.registry import KINDS

    if kind is not None and kind not in KINDS and any(ch in kind for ch in "*?["):
        kind, pattern = None, kind  # `mertk components 'cb*'`
    kinds = [kind] if kind else list(KINDS)
    found = {k: app.components[k].list(pattern) for k in kinds}
    if not any(found.values()):
        what = f"no {kind} component" if kind else "no component of any kind"
        matches = "is installed" if pattern == "*" else f"matches {pattern!r}"
        raise MertkError(f"{what} {matches}. Kinds: {', '.join(KINDS)}. List everything with `mertk components`, "
                         "one kind with `mertk components KIND`, names with a shell-style pattern such as "
                         "`mertk components \"dual-*\"`")
    for k, infos in found.items():
        if not infos:
            continue
        click.echo(f"{k}:")
        for info in infos:
            click.echo(f"    {info.name:<22} {info.description}  [{info.plugin}]")


def _any_config(app: App, name: str, overrides: tuple[str, ...]):
    """A run config or a spotting config (`mertk spot`'s: a spotter and no model), whichever it is, validated."""
    from mertk.config import is_spotting_config, read_config

    if is_spotting_config(read_config(name, app.components, overrides)[1]):
        from mertk.spotting.settings import SpotConfig

        return app.config(name, overrides, schema=SpotConfig)
    return app.config(name, overrides)


@click.group()
def config() -> None:
    """Check and show run configs."""


@config.command("check")
@click.argument("file")
@set_option
@pass_app
def config_check(app: App, file: str, overrides: tuple[str, ...]) -> None:
    """Validate FILE (names, arguments, types) without building anything: a run config, or a spotting
    config (``mertk spot``'s)."""
    loaded = _any_config(app, file, overrides)
    click.echo(f"{loaded.file}: OK")


@config.command("show")
@click.argument("name")
@set_option
@click.option("--resolved", is_flag=True, help="Show the validated config with every default filled in.")
@pass_app
def config_show(app: App, name: str, overrides: tuple[str, ...], resolved: bool) -> None:
    """Print a config (bundled NAME or a file) so it can be copied and edited."""
    import yaml

    from mertk.config import find_config

    if resolved:
        loaded = _any_config(app, name, overrides)
        click.echo(yaml.safe_dump(loaded.config.model_dump(mode="json"), sort_keys=False), nl=False)
    else:
        click.echo(find_config(name, app.components).read_text(encoding="utf-8"), nl=False)


@config.command("list")
@pass_app
def config_list(app: App) -> None:
    """List the bundled configs."""
    from mertk.config import bundled_configs

    for name, path in bundled_configs(app.components).items():
        click.echo(f"{name:<32} {path}")


CORE_COMMANDS = (run, plugins, components, config)
