"""``mertk predict MODEL INPUT...`` and ``mertk explain MODEL INPUT...``.

MODEL is a model folder written by ``mertk run`` (``RUN_DIR/model``, see
:mod:`mertk.artifact`). INPUT is a folder of frames, a video file or a manifest CSV
(see :mod:`mertk.inference.inputs` for the units of ``--onset``/``--apex``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import click

from mertk.cli_app import App, pass_app

__all__ = ["predict", "explain"]

_model = click.argument("model", type=click.Path(path_type=Path))
_inputs = click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
_onset = click.option("--onset", metavar="FRAME", help="Onset of every folder/video clip: the frame number in a "
                      "folder's file names (7 or img7.jpg), or a 0-based video frame index. "
                      "Default: the first frame.")
_apex = click.option("--apex", metavar="FRAME", help="Apex, in the units of --onset. Default: the model's apex spotter "
                     "picks it.")
_device = click.option("--device", default="auto", show_default=True,
                       help="auto (CUDA when available), cpu, cuda, cuda:1, ...")


def _warn(problems) -> None:
    for problem in problems:
        click.echo(f"{'skipped' if problem.fatal else 'warning'}: {problem}", err=True)


@contextlib.contextmanager
def _clip_problems(skip: str) -> Iterator[None]:
    """Say how to go on without bad clips in this command's terms (not a run config's)."""
    from mertk.data.problems import stop_on_fatal
    from mertk.errors import DataError

    try:
        yield
    except DataError as exc:
        stop_on_fatal(exc.problems, "stop", skip=skip, more="pass --on-error skip to list them all")


@click.command()
@_model
@_inputs
@_onset
@_apex
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the predictions to this file (written only when every clip is done). Default: stdout.")
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default=None,
              help="Output format. Default: from --output's suffix, else json.")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True,
              help="Clips per forward pass.")
@_device
@click.option("--on-error", type=click.Choice(["stop", "skip"]), default="stop", show_default=True,
              help="A bad clip (a missing or empty folder, an unreadable video, no face) stops the command once "
              "every bad input is listed, or is skipped: the others are predicted and the skipped ones listed at the "
              "end on stderr (exit 0 when at least one clip was predicted).")
@pass_app
def predict(app: App, model: Path, inputs: tuple[Path, ...], onset: str | None, apex: str | None,
            output: Path | None, fmt: str | None, batch_size: int, device: str, on_error: str) -> None:
    """Predict the class of each clip INPUT (frames folder, video or manifest CSV) with MODEL.

    Prints, per clip: the class, the probability of every class and the onset/apex used. For a
    model trained for action units (task aus): the AUs present and each AU's probability.
    """
    from mertk.artifact import load_artifact
    from mertk.data.problems import stop_on_fatal
    from mertk.errors import MertkError
    from mertk.files import write_text_atomic
    from mertk.inference.inputs import clip_samples
    from mertk.inference.predict import format_predictions, predict_clips
    from mertk.writable import check_writable_file

    if output is not None:
        check_writable_file(output, what="the predictions", fix="pass --output a file in a folder you can write")
    artifact = load_artifact(model, app.components)
    problems: list = []
    rows: list = []
    with _clip_problems("pass --on-error skip to predict the other clips"):
        samples = clip_samples(inputs, onset=onset, apex=apex, problems=problems)
        stop_on_fatal(problems, on_error)  # every bad input is listed before any clip is preprocessed
        if samples:
            rows, found = predict_clips(artifact, samples, app.components, device=device, batch_size=batch_size,
                                        on_error=on_error, progress=len(samples) > 1)
            problems += found
    if rows:
        fmt = fmt or ("csv" if output is not None and output.suffix.lower() == ".csv" else "json")
        text = format_predictions(rows, artifact.class_names, fmt)
        if output is None:
            click.echo(text, nl=False)
        else:
            write_text_atomic(output, text)
            click.echo(f"{len(rows)} predictions: {output}", err=True)
    _warn(problems)
    skipped = sum(p.fatal for p in problems)
    if skipped:
        click.echo(f"{len(rows)} clip(s) predicted, {skipped} skipped (listed above)", err=True)
    if not rows:
        raise MertkError(f"no clip could be predicted: all {skipped} were skipped for the problems listed above. "
                         "Fix: correct the inputs as suggested")


@click.command()
@_model
@_inputs
@_onset
@_apex
@click.option("--output", "-o", type=click.Path(file_okay=False, path_type=Path), default=Path("explain"),
              show_default=True, help="Folder for the PNGs.")
@click.option("--class", "target_class", metavar="NAME",
              help="Class to explain (for an action-unit model: the AU, e.g. AU12). Default: each clip's "
              "predicted class (its most probable AU).")
@_device
@pass_app
def explain(app: App, model: Path, inputs: tuple[Path, ...], onset: str | None, apex: str | None, output: Path,
            target_class: str | None, device: str) -> None:
    """Draw Grad-CAM of each branch and the attention maps of MODEL over each clip's aligned apex face.

    Writes, per clip, {clip}-gradcam-{view}.png, {clip}-attention-{view}.png and a titled
    summary sheet {clip}-explain.png into --output.
    """
    from mertk.artifact import load_artifact
    from mertk.data.problems import stop_on_fatal
    from mertk.inference.explain import explain_clips, write_explanations
    from mertk.inference.inputs import clip_samples
    from mertk.writable import check_writable_dir

    check_writable_dir(output, what="the explanation images", fix="pass --output a folder you can write")
    artifact = load_artifact(model, app.components)
    problems: list = []
    with _clip_problems("leave these clips out of the command"):
        samples = clip_samples(inputs, onset=onset, apex=apex, problems=problems)
        stop_on_fatal(problems, "stop")  # every bad input is listed before any clip is preprocessed
        _warn(problems)
        explanations = explain_clips(artifact, samples, app.components, target_class=target_class, device=device)
    written = write_explanations(explanations, output)
    for ex in explanations:
        click.echo(f"{ex.sample.clip}: predicted {ex.predicted}; maps for class {ex.target}")
    click.echo(f"{len(written)} images in {output}")
