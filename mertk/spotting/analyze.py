"""``mertk analyze VIDEO``: spot a recording, then classify each interval found with a trained model.

The recording (a video file, or a folder of frames with ``fps``) becomes a
:class:`~mertk.api.LongVideo` without truth; the spotter reads it once
(:func:`mertk.preprocess.spot.spot_video`); each interval becomes a clip
:class:`~mertk.api.Sample` from its onset to its offset, with the spotter's apex when it gives one
(else the model's own apex spotter picks it), and is classified by the model's own preprocessing
and weights (:func:`mertk.inference.predict.predict_clips`).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mertk.api import Interval, LongVideo, Problem, Sample, SpotResult
from mertk.errors import MertkError
from mertk.registry import Components

__all__ = ["Analysis", "recording", "analyze", "interval_samples", "format_analysis"]

DATASET = SUBJECT = "analyze"


@dataclass
class Analysis:
    """What :func:`analyze` found: the recording, the spotter's result, one row per interval, problems."""

    video: LongVideo
    result: SpotResult
    rows: list[dict[str, Any]]
    class_names: list[str]
    problems: list[Problem]


def recording(path: Path, fps: float | None = None) -> LongVideo:
    """``path`` (a video file, or a folder of frames) as a recording to spot.

    Args:
        fps: Frames per second; default: the video file's own. A folder of frames needs it.

    Raises:
        MertkError: the path does not exist, the video cannot be read, a folder holds fewer than 2
            frames, or no frame rate is known.
    """
    from mertk.inference.inputs import folder_sample, video_sample

    path = Path(path)
    if path.is_dir():
        frames = folder_sample(path).frames
        if fps is None:
            raise MertkError(f"{path}: a folder of frames has no frame rate. Fix: give it with --fps (e.g. --fps 30)")
        return LongVideo(id=str(path), subject=SUBJECT, name=path.name, dataset=DATASET, fps=fps, frames=frames)
    if not path.exists():
        raise MertkError(f"{path}: no such file or folder. Fix: pass a video file or a folder of frames")
    video_sample(path)  # refuses an unreadable video, naming the fix
    if fps is None:
        import cv2

        capture = cv2.VideoCapture(str(path))
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0)
        capture.release()
        if not fps > 0:
            raise MertkError(f"{path}: the video does not say its frame rate. Fix: give it with --fps (e.g. --fps 30)")
    return LongVideo(id=str(path), subject=SUBJECT, name=path.stem, dataset=DATASET, fps=fps, video=path)


def interval_samples(video: LongVideo, intervals: Sequence[Interval]) -> list[Sample]:
    """One clip per interval: its frames from onset to offset (or the video with those indices), the
    spotter's apex when it has one."""
    samples = []
    for k, interval in enumerate(intervals):
        name = f"interval{k + 1:03d}"
        common = {"id": f"{video.id}#{name}", "subject": SUBJECT, "clip": name, "dataset": DATASET, "label": -1,
                  "meta": {"input": str(video.id)}}
        if video.frames:
            samples.append(Sample(**common, frames=video.frames[interval.onset:interval.offset + 1], onset=0,
                                  apex=None if interval.apex is None else interval.apex - interval.onset,
                                  offset=interval.offset - interval.onset))
        else:
            samples.append(Sample(**common, video=video.video, onset=interval.onset, apex=interval.apex,
                                  offset=interval.offset))
    return samples


def analyze(video: LongVideo, model: Path, components: Components, *, spotter: Any = "strain-peaks",
            device: str = "auto", on_frame: Callable[[], None] | None = None) -> Analysis:
    """Spot ``video`` with ``spotter`` (a spec), then classify each interval with the model in folder ``model``.

    The model is loaded first, so a wrong folder fails before the recording is read. An interval the
    model's preprocessing cannot use (no face in its frames) is listed in the problems, without class.

    Raises:
        MertkError: the model folder is not a model, the spotter is no long-video spotter, the
            recording cannot be read, or the spotter found no face in it.
    """
    from mertk.artifact import load_artifact
    from mertk.inference.predict import predict_clips
    from mertk.preprocess.spot import spot_video
    from mertk.registry import ComponentSpec

    artifact = load_artifact(model, components)
    name = ComponentSpec.of(spotter, kind="spotter").name
    built = components.build("spotter", spotter, key="--spotter")
    result = spot_video(built, video, name, on_frame)
    samples = interval_samples(video, result.intervals)
    predicted, problems = (predict_clips(artifact, samples, components, device=device, on_error="skip")
                           if samples else ([], []))
    by_clip = {row["clip"]: row for row in predicted}
    rows = []
    for sample, interval in zip(samples, result.intervals):
        row = by_clip.get(sample.clip, {})
        probabilities = row.get("probabilities", {})
        label = row.get("class")
        rows.append({"interval": sample.clip, "onset": interval.onset, "apex": interval.apex, "offset": interval.offset,
                     "onset_s": round(interval.onset / video.fps, 3),
                     "offset_s": round((interval.offset + 1) / video.fps, 3),
                     "type": interval.expression, "score": interval.score, "class": label,
                     "probability": probabilities.get(label) if label is not None else None,
                     "probabilities": probabilities})
    return Analysis(video, result, rows, list(artifact.class_names), list(problems))


def format_analysis(analysis: Analysis, fmt: str) -> str:
    """The rows as JSON (the recording, then a list of intervals) or CSV (one ``p_<class>`` column per class)."""
    if fmt == "json":
        return json.dumps({"video": analysis.video.id, "fps": analysis.video.fps, "frames": analysis.result.frames,
                           "intervals": analysis.rows}, indent=2) + "\n"
    out = io.StringIO()
    columns = ["interval", "onset", "apex", "offset", "onset_s", "offset_s", "type", "score", "class", "probability"]
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns + [f"p_{c}" for c in analysis.class_names])
    for row in analysis.rows:
        probabilities: Mapping[str, float] = row["probabilities"]
        writer.writerow([_cell(row[c]) for c in columns] + [_cell(probabilities.get(c)) for c in analysis.class_names])
    return out.getvalue()


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    return f"{value:.5f}" if isinstance(value, float) else value
