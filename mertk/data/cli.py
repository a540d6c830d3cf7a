"""``mertk datasets``: list the dataset adapters and inspect the data a config points to."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import click

from mertk.cli_app import App, pass_app, set_option

if TYPE_CHECKING:
    from mertk.api import LongVideo, Problem, Sample
    from mertk.config import LoadedConfig

__all__ = ["datasets"]


@click.group(invoke_without_command=True)
@click.pass_context
def datasets(ctx: click.Context) -> None:
    """List dataset adapters, or inspect a config's dataset (``mertk datasets inspect CONFIG``)."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(list_datasets)


@datasets.command("list")
@pass_app
def list_datasets(app: App) -> None:
    """List the installed dataset adapters."""
    for info in app.components["dataset"].list():
        click.echo(f"{info.name:<14} {info.description}  [{info.plugin}]")


@datasets.command("inspect")
@click.argument("config")
@set_option
@click.option("--deep", is_flag=True, help="Decode every frame of every clip, not only the frames preprocessing "
              "reads (onset, apex, offset; all of a clip whose apex is spotted).")
@pass_app
def inspect_dataset(app: App, config: str, overrides: tuple[str, ...], deep: bool) -> None:
    """Load CONFIG's dataset and report counts per class, subject and source, and every problem.

    The frames each sample's preprocessing will read are decoded (every frame with --deep), so
    a missing, empty or truncated image is found here, not hours into a run. For a spotting
    config (`mertk spot`'s: a video_dataset and a spotter), the recordings are listed per subject
    with their frames and annotated micro- and macro-expressions, and each recording's first,
    last and annotated frames are decoded (every frame with --deep). Every problem is
    listed with file and row. Exits 1 when a sample is unusable (a FATAL problem) or no sample
    is usable, and on a bad config or a dataset root or annotation that cannot be read at all;
    exits 0 when every sample is usable (warnings allowed), so a script can check data before
    a run.
    """
    from mertk.config import is_spotting_config, read_config

    path, data = read_config(config, app.components, overrides)
    if is_spotting_config(data):
        _inspect_videos(app, path.name, data.get("dataset"), deep)
        return
    loaded = app.config(config, overrides)
    spec = loaded.config.dataset
    dataset = app.components.build("dataset", spec, file=loaded.file, key="dataset")
    load = dataset.load()
    names = load.class_names or tuple(dataset.class_names)
    samples, unreadable = _decode_check(app, loaded, load.samples, deep)
    load.problems.extend(unreadable)
    click.echo(f"dataset {spec['name']}: {len(samples)} usable samples, {len({s.subject for s in samples})} "
               f"subjects, {len(names)} classes")
    _table("per class", Counter(names[s.label] if 0 <= s.label < len(names) else str(s.label) for s in samples),
           order=names)
    _table("per source dataset", Counter(s.dataset for s in samples))
    _table("per subject", Counter(s.subject for s in samples))
    fatal = _echo_left_out_and_problems(load.excluded, load.problems,
                                        "rows outside the class protocol or otherwise left out on purpose",
                                        "sample unusable")
    if fatal:
        click.echo(f"with on_error: {loaded.config.on_error}, a run would "
                   + ("stop on these." if loaded.config.on_error == "stop" else "skip these samples."))
    if not samples:
        click.echo("no usable samples: a run would stop. Check the dataset's arguments (root, path, classes) "
                   "and the problems above.")
    if fatal or not samples:
        raise click.exceptions.Exit(1)


def _inspect_videos(app: App, file: str, spec: object, deep: bool) -> None:
    """``datasets inspect`` of a spotting config: its long-video dataset's recordings, truth and problems."""
    from mertk.errors import ConfigError
    from mertk.preprocess.frames import recording_problems
    from mertk.progress import progress_bar

    if spec is None:
        raise ConfigError(file, "dataset", "missing: a spotting config names a video_dataset (e.g. long-demo)")
    load = app.components.build("video_dataset", spec, file=file, key="dataset").load()
    videos: list[LongVideo] = []
    with progress_bar(total=len(load.videos), desc="decoding frames", unit="recording", leave=False) as bar:
        for video in load.videos:
            problems = recording_problems(video, deep=deep)
            load.problems.extend(problems)
            if not any(p.fatal for p in problems):
                videos.append(video)
            bar.update()
    name = spec if isinstance(spec, str) else dict(spec).get("name")  # type: ignore[call-overload]
    kinds = Counter(i.expression for v in videos for i in v.intervals)
    frames = sum(_length(v) for v in videos)
    click.echo(f"video dataset {name}: {len(videos)} usable recordings, {len({v.subject for v in videos})} subjects, "
               f"{frames} frames in frame folders, {kinds['micro']} micro- and {kinds['macro']} macro-expressions "
               "annotated")
    click.echo("per subject:                    recordings  frames   micro   macro")
    for subject in sorted({v.subject for v in videos}):
        mine = [v for v in videos if v.subject == subject]
        own = Counter(i.expression for v in mine for i in v.intervals)
        click.echo(f"  {subject:<30} {len(mine):>5} {sum(map(_length, mine)):>8} {own['micro']:>7} {own['macro']:>7}")
    click.echo("per recording:                  fps  frames   micro   macro")
    for video in sorted(videos, key=lambda v: v.id):
        own = Counter(i.expression for i in video.intervals)
        click.echo(f"  {video.id:<30} {video.fps:>4g} {_length(video):>7} {own['micro']:>7} {own['macro']:>7}")
    fatal = _echo_left_out_and_problems(load.excluded, load.problems, "annotation rows left out on purpose",
                                        "recording left out")
    if not videos:
        click.echo("no usable recording: `mertk spot` would stop. Check the dataset's arguments (root, annotation) "
                   "and the problems above.")
    if fatal or not videos:
        raise click.exceptions.Exit(1)


def _echo_left_out_and_problems(excluded: Mapping[str, int], problems: Sequence[Problem], left_out: str,
                                fatal_means: str) -> list[Problem]:
    """Print the rows left out on purpose (``left_out``: what they are) and every problem; return the fatal ones."""
    if excluded:
        click.echo(f"{left_out} ({sum(excluded.values())}):")
        for reason, count in sorted(excluded.items()):
            click.echo(f"  {count:>5}  {reason}")
    fatal = [p for p in problems if p.fatal]
    click.echo(f"problems: {len(fatal)} fatal ({fatal_means}), {len(problems) - len(fatal)} warnings")
    for problem in problems:
        click.echo(f"  {'FATAL' if problem.fatal else 'warning':<7}  {problem}")
    return fatal


def _length(video: LongVideo) -> int:
    """Frames of a recording: its frame files (a video file counts 0: it is not decoded to count them)."""
    return len(video.frames)


def _decode_check(app: App, loaded: LoadedConfig, samples: list[Sample],
                  deep: bool) -> tuple[list[Sample], list[Problem]]:
    """Decode the frames each sample's preprocessing reads (all with ``deep``), on a few threads.

    Returns the samples whose files all decode, and the problems found (in sample order).
    """
    from concurrent.futures import ThreadPoolExecutor

    from mertk.api import view_source
    from mertk.cpus import available_cpus
    from mertk.preprocess.frames import decode_problems
    from mertk.progress import progress_bar

    views = loaded.config.preprocess.views
    whole_clip = any(view_source(app.components.build("roi_selector", spec, file=loaded.file,
                                                      key=f"preprocess.views.{name}")) == "frames"
                     for name, spec in views.items())
    with ThreadPoolExecutor(max(1, available_cpus().count)) as pool, \
            progress_bar(total=len(samples), desc="decoding frames", unit="clip", leave=False) as bar:
        found = []
        for problems in pool.map(lambda s: decode_problems(s, whole_clip=whole_clip, deep=deep), samples):
            found.append(problems)
            bar.update()
    kept = [s for s, problems in zip(samples, found) if not any(p.fatal for p in problems)]
    return kept, [p for problems in found for p in problems]


def _table(title: str, counts: Counter, order: tuple[str, ...] = ()) -> None:
    keys = list(order) + sorted(k for k in counts if k not in order)
    click.echo(f"{title}:")
    for key in keys:
        click.echo(f"  {key:<24} {counts.get(key, 0):>5}")
