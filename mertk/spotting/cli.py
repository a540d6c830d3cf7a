"""``mertk spot CONFIG`` and ``mertk analyze VIDEO``."""

from __future__ import annotations

from pathlib import Path

import click

from mertk.cli_app import App, pass_app, run_folder_options, set_option

__all__ = ["spot", "analyze"]


@click.command()
@click.argument("config", required=False)
@set_option
@run_folder_options("spotting run", "spotted recordings", "executor, output")
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


@click.command()
@click.argument("video", type=click.Path(path_type=Path))
@click.option("--model", "model", required=True, type=click.Path(path_type=Path),
              help="A trained recognition model: the RUN_DIR/model folder `mertk run` exported.")
@click.option("--spotter", metavar="SPEC",
              help="The spotter, as a name or YAML mapping, e.g. '{name: strain-peaks, high: 6}'. Default: a "
                   "spotting config's default, strain-peaks.")
@click.option("--fps", type=click.FloatRange(min=0, min_open=True),
              help="Frames per second: needed for a folder of frames; default for a video: its own.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the intervals here (.csv or .json). Default: JSON on stdout.")
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default=None,
              help="Output format. Default: from --output's suffix, else json.")
@click.option("--timeline", type=click.Path(dir_okay=False, path_type=Path),
              help="Draw the timeline (signal, intervals with their classes) to this PNG. Default: next to "
                   "--output, with the suffix .png.")
@click.option("--device", default="auto", show_default=True, help="auto (CUDA when available), cpu, cuda, ...")
@pass_app
def analyze(app: App, video: Path, model: Path, spotter: str | None, fps: float | None, output: Path | None,
            fmt: str | None, timeline: Path | None, device: str) -> None:
    """Spot the expressions in VIDEO (a video file or a folder of frames), then classify each interval
    found with the trained --model: one row per interval with its frames, times, type, class and
    probabilities.
    """
    from mertk.preprocess.frames import clip_length
    from mertk.progress import progress_bar
    from mertk.spotting.analyze import analyze as run_analysis
    from mertk.spotting.analyze import format_analysis, recording
    from mertk.writable import check_writable_file
    from mertk.yamlfile import load_yaml

    if output is not None:
        check_writable_file(output, what="the intervals", fix="pass --output a file in a folder you can write")
    if timeline is None and output is not None:
        timeline = output.with_suffix(".png")
    if timeline is not None:
        check_writable_file(timeline, what="the timeline", fix="pass --timeline a file in a folder you can write")
    fmt = fmt or ("csv" if output is not None and output.suffix.lower() == ".csv" else "json")
    from mertk.spotting.settings import SpotConfig

    given = SpotConfig.model_fields["spotter"].default if spotter is None else load_yaml(spotter, file="--spotter")
    spec = app.components.validate("spotter", given, file="--spotter", key="spotter")
    long_video = recording(video, fps)
    total = len(long_video.frames) if long_video.frames else clip_length(long_video)
    with progress_bar(total=total, unit="frame", desc=f"spotting {long_video.name}") as bar:
        analysis = run_analysis(long_video, model, app.components, spotter=spec, device=device,
                                on_frame=lambda: bar.update(1))
    for problem in analysis.problems:
        click.echo(f"{'skipped' if problem.fatal else 'warning'}: {problem}", err=True)
    text = format_analysis(analysis, fmt)
    if output is None:
        click.echo(text, nl=False)
    else:
        from mertk.files import write_text_atomic

        write_text_atomic(output, text)
        click.echo(f"{len(analysis.rows)} intervals -> {output}", err=True)
    if timeline is not None:
        from mertk.spotting.timeline import plot_timeline

        result = analysis.result
        plot_timeline(timeline, fps=long_video.fps, frames=result.frames, signals=result.signals,
                      thresholds=result.thresholds, truths=(), detections=result.intervals,
                      title=f"{long_video.id} ({long_video.fps:g} fps)",
                      labels=[row["class"] or "" for row in analysis.rows])
        click.echo(f"timeline -> {timeline}", err=True)
