"""Predict clips with an exported model: the run's preprocessing, its normalisation, eval mode.

>>> artifact = load_artifact("runs/dual-atme-.../model", components)        # doctest: +SKIP
>>> samples = clip_samples(["clips/EP01_01"], apex="img7.jpg")               # doctest: +SKIP
>>> rows = predict_clips(artifact, samples, components)                      # doctest: +SKIP
>>> rows[0]["class"], rows[0]["probabilities"]                               # doctest: +SKIP
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch

from mertk.api import Problem, Sample, Task
from mertk.artifact import META_NAME, Artifact
from mertk.errors import MertkError
from mertk.preprocess.pipeline import Prepared
from mertk.registry import Components, ComponentSpec

__all__ = ["PreparedClips", "prepare_clips", "predict_clips", "format_predictions", "artifact_task"]


def artifact_task(artifact: Artifact, components: Components) -> Task:
    """The task the model was trained for, as its config names it (a model exported before tasks
    existed: ``emotion``); it says how the model's outputs read.

    Raises:
        MertkError: the task is not registered here (the plugin that adds it is not installed).
    """
    spec = artifact.config.get("task") or artifact.task
    return components.build("task", spec, file=str(artifact.path / META_NAME), key="config.task")


@dataclass
class PreparedClips:
    """Clips preprocessed for a model.

    Attributes:
        samples: The clips that made it through, in input order.
        prepared: What :func:`mertk.preprocess.pipeline.prepare` returned for them.
        inputs: The model's views, normalised as in training: ``{name: (N, C, S, S)}`` on ``device``.
        problems: Skipped clips (``on_error="skip"``) and warnings.
    """

    samples: list[Sample]
    prepared: Prepared
    inputs: dict[str, torch.Tensor]
    problems: list[Problem]


def prepare_clips(artifact: Artifact, samples: Sequence[Sample], components: Components, *,
                  device: torch.device | str = "cpu", on_error: Literal["stop", "skip"] = "stop",
                  progress: bool = False) -> PreparedClips:
    """Run the model's own preprocessing on ``samples`` and normalise the views as the engine does.

    The per-clip cache is not used (nothing is written outside the output).

    Raises:
        MertkError: a clip fails (``on_error="stop"``: no face, unreadable frames, ...), or the
            model's preprocessing cannot be reproduced for new clips.
    """
    from mertk.engine.trainer import normalize_views
    from mertk.preprocess.pipeline import prepare

    file = str(artifact.path / META_NAME)
    if artifact.preprocess.encoding.normalize == "global":
        raise MertkError(f"{file}: the model was trained with preprocess.encoding.normalize: global, whose scale comes "
                         "from all training clips together; new clips cannot be scaled the same way. Fix: train "
                         "with normalize: minmax (the default) or none")
    settings = artifact.preprocess.model_copy(update={"cache": False})
    prepared = prepare(samples, settings, components, on_error=on_error, progress=progress, config_file=file)
    by_id = {s.id: s for s in samples}
    kept = [by_id[i] for i in prepared.sample_ids]
    views = {}
    for name, shape in artifact.view_shapes.items():
        if name not in prepared.views:
            raise MertkError(f"{file}: the model reads view {name!r}, which its preprocessing settings do not make. "
                             "Fix: export the model again with `mertk run`")
        got = tuple(prepared.views[name].shape[1:])
        if kept and got != shape:
            raise MertkError(f"{file}: view {name!r} comes out {got}, the model expects {shape}. Fix: export the "
                             "model again with `mertk run`")
        views[name] = prepared.views[name]
    inputs = normalize_views(views, artifact.normalize_mean, artifact.normalize_std, torch.device(device))
    return PreparedClips(kept, prepared, inputs, list(prepared.problems))


def _frame_ref(sample: Sample, position: int | None) -> tuple[int | None, str | None]:
    """A position as the user gives it: ``(frame number, file name)`` for folders, ``(index, None)`` for videos."""
    if position is None or not sample.frames:
        return position, None
    from mertk.data.frames import frame_number

    file = sample.frames[position]
    return frame_number(file.name), file.name


def predict_clips(artifact: Artifact, samples: Sequence[Sample], components: Components, *,
                  device: torch.device | str = "auto", batch_size: int = 64,
                  on_error: Literal["stop", "skip"] = "stop",
                  progress: bool = False) -> tuple[list[dict[str, Any]], list[Problem]]:
    """Class and probabilities for every clip.

    Args:
        artifact: A loaded model (:func:`~mertk.artifact.load_artifact`).
        samples: Clips (:func:`~mertk.inference.inputs.clip_samples`).
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ...
        batch_size: Clips per forward pass.
        on_error: ``stop`` at the first bad clip, or ``skip`` it (listed in the problems).

    Returns:
        One row per kept clip: ``input``, ``clip``, ``class``, ``probabilities`` (class ->
        probability; for an action-unit model ``aus``, the AUs scored present (``>= 0.5``), in
        place of ``class``, and each AU's probability), ``onset``/``apex`` (frame numbers
        of a folder's file names, or video frame indices), ``onset_file``/``apex_file``
        (folders), ``apex_source`` (``given`` or ``spotter:<name>``), ``face_method`` (the
        detector that found the face; ``whole-frame`` when the detector chain found none and
        fell back to the whole frame); and the problems met.
    """
    from mertk.engine.trainer import predict, select_device

    device = select_device(device) if isinstance(device, str) else device
    clips = prepare_clips(artifact, samples, components, device=device, on_error=on_error, progress=progress)
    model = artifact.model.to(device)
    task = artifact_task(artifact, components)
    precision = artifact.config.get("train", {}).get("precision", "fp32")  # as the run's own test predictions
    probs = (predict(model, clips.inputs, batch_size=batch_size, precision=precision, scores=task.scores)
             if clips.samples else torch.zeros(0, len(artifact.class_names)))
    decisions = task.decide(probs).tolist()
    spotter_name = ComponentSpec.of(artifact.preprocess.apex_spotter, kind="apex_spotter").name
    rows = []
    for sample, record, p, decision in zip(clips.samples, clips.prepared.records, probs, decisions):
        onset, onset_file = _frame_ref(sample, record["onset"])
        apex, apex_file = _frame_ref(sample, record["apex"])
        names = artifact.class_names
        row: dict[str, Any] = {
            "input": sample.meta.get("input", sample.id), "clip": sample.clip,
            **({"class": names[decision]} if isinstance(decision, int)
               else {"aus": [name for name, v in zip(names, decision) if v]}),
            "probabilities": {name: float(v) for name, v in zip(names, p)},
            "onset": onset, "apex": apex,
            "apex_source": "given" if record["apex_source"] == "annotation" else f"spotter:{spotter_name}",
            "face_method": record["face_method"],
        }
        if sample.frames:
            row.update(onset_file=onset_file, apex_file=apex_file)
        rows.append(row)
    return rows, clips.problems


def format_predictions(rows: Sequence[Mapping[str, Any]], class_names: Sequence[str],
                       fmt: Literal["json", "csv"] = "json") -> str:
    """Rows of :func:`predict_clips` as JSON (a list of objects) or CSV (one ``p_<class>`` column per class;
    an action-unit model's rows have an ``aus`` column, the AUs present joined by ``+``, for ``class``)."""
    if fmt == "json":
        return json.dumps(list(rows), indent=2) + "\n"
    out = io.StringIO()
    decision = "aus" if any("aus" in row for row in rows) else "class"
    columns = ["input", "clip", decision, "onset", "apex", "apex_source", "onset_file", "apex_file", "face_method"]
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns + [f"p_{c}" for c in class_names])
    for row in rows:
        values = {**row, "aus": "+".join(row.get("aus", ()))}
        writer.writerow([values.get(c, "") for c in columns] + [f"{row['probabilities'][c]:.6f}" for c in class_names])
    return out.getvalue()
