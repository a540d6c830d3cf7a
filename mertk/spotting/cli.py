"""``mertk spot CONFIG`` and ``mertk analyze VIDEO``."""

from __future__ import annotations

from pathlib import Path

import click

from mertk.cli_app import App, pass_app, set_option

__all__ = ["spot"]


@click.command()
@click.argument("config", required=False)
@set_option
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Continue an interrupted spotting run in RUN_DIR; spotted recordings are kept. Only where and how "
                   "it runs (executor, output) may differ from how it started.")
@click.option("--run-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write the run here instead of a new folder under output.dir.")
@pass_app
def spot(app: App, config: str | None, overrides: tuple[str, ...], resume_dir: Path | None,
         run_dir: Path | None) -> None:
    """Spot expressions in every recording of a long-video dataset, LOSO over subjects, and score them
    with the MEGC interval metric (CONFIG: a file, or a bundled config such as spotting-demo.yaml).

    The run folder keeps each recording's intervals as it is spotted (videos/*.csv), a timeline per
    recording, metrics.json (micro, macro, overall; per dataset, subject, recording) and report.md.
    With --resume RUN_DIR the saved config is used and only the recordings not spotted yet run; a
    --set that changes a result is refused, naming the key.
    """
    from mertk.config import is_spotting_config
    from mertk.errors import MertkError
    from mertk.spotting.evaluate import spot_experiment
    from mertk.spotting.settings import SpotConfig

    if resume_dir is not None:
        saved = resume_dir / "config.yaml"
        if not saved.is_file():
            raise MertkError(f"{resume_dir}: not a mertk run folder (no config.yaml); pass the folder that "
                             "`mertk spot` printed")
        from mertk.config import read_config

        if not is_spotting_config(read_config(saved, app.components)[1]):
            raise MertkError(f"{resume_dir}: a `mertk run` folder, not a spotting run. Fix: `mertk run --resume "
                             f"{resume_dir}`")
        loaded, run_dir = app.config(saved, overrides, schema=SpotConfig), resume_dir
    elif config is None:
        raise click.UsageError("give a CONFIG (e.g. spotting-demo.yaml) or --resume RUN_DIR")
    else:
        from mertk.config import read_config

        if not is_spotting_config(read_config(config, app.components, overrides)[1]):
            raise MertkError(f"{config}: not a spotting config (it has no spotter, or it names a model). Fix: run it "
                             f"with `mertk run {config}`, or see `mertk config show spotting-demo.yaml`")
        loaded = app.config(config, overrides, schema=SpotConfig)
    spot_experiment(loaded, app.components, run_dir=run_dir, resume=resume_dir is not None)
