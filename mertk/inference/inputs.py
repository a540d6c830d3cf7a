"""Clips to predict: video files, frame folders and manifest CSVs -> :class:`~mertk.api.Sample`.

Onset and apex are given the way annotation sheets give them:

* frame folder: **frame numbers as in the file names** (``--apex 7`` or ``--apex img7.jpg``
  is the file ``img7.jpg``; the last run of digits of each name is its number, and frames are
  ordered by it, as for every dataset);
* video: **0-based frame indices** (``--apex 0`` is the first frame);
* manifest CSV: the ``onset``/``apex``/``offset`` columns of each row, in the same units (a
  row names its clip in a ``frames`` or ``video`` column, relative to the CSV's folder; a
  ``sample`` column names it in the output).

Without an onset the first frame is the onset; without an apex the model's spotter (its
``preprocess.apex_spotter``) picks it from the whole clip.

A bad clip (a missing input or row folder, no frames, an unreadable video, a frame reference
outside the clip) raises a :class:`~mertk.preprocess.errors.ClipError` whose ``problem`` names
the input (the manifest and its row for a manifest row) and the fix. :func:`clip_samples`
either raises the first, or, given a ``problems`` list, collects every one there and goes on
with the other clips, so that a command can list them all (``--on-error stop``) or predict the
rest (``--on-error skip``). Mistakes that concern the whole command (``--onset`` with a
manifest, an unreadable manifest, the same clip twice) always raise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2

from mertk.api import Problem, Sample
from mertk.data.clips import AnnotatedClip, clip_sample
from mertk.data.frames import parse_frame_ref
from mertk.errors import MertkError
from mertk.preprocess.errors import ClipError

__all__ = ["VIDEO_SUFFIXES", "clip_samples", "folder_sample", "video_sample", "manifest_samples"]

VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".m4v"})
SUBJECT = DATASET = "predict"
UNKNOWN_LABEL = -1


def _raise_first(problems: Sequence[Problem]) -> None:
    fatal = [p for p in problems if p.fatal]
    if fatal:
        p = fatal[0]
        raise ClipError(p.file, p.sample, p.message, p.fix, row=p.row)


def _too_short(file: object, n: int, fix: str, row: int | None = None, sample: str | None = None) -> ClipError:
    return ClipError(file, sample, f"the clip has {n} frame{'s' if n != 1 else ''}; a micro-expression needs at "
                     "least an onset and an apex frame (2 frames)", fix, row=row)


def folder_sample(folder: Path, *, onset: str | int | None = None, apex: str | int | None = None,
                  offset: str | int | None = None, name: str | None = None, origin: str | None = None,
                  row: int | None = None, warnings: list[Problem] | None = None) -> Sample:
    """A frame folder as a sample; ``onset``/``apex``/``offset`` are frame numbers or names.

    Args:
        origin, row: Where the folder is named (a manifest and its row), for problems; default
            the folder itself.
        warnings: Receives the clip's warnings (a missing frame replaced by the nearest, ...).

    Raises:
        ClipError: the folder is missing or holds no frames, fewer than 2 frames, a frame
            reference outside the clip or out of order.
    """
    problems: list[Problem] = []
    clip = AnnotatedClip(dataset=DATASET, subject=SUBJECT, clip=name or folder.name, label=UNKNOWN_LABEL, emotion="",
                         folder=folder, onset=onset, apex=apex, offset=offset, file=origin or str(folder), row=row,
                         id=str(folder), meta={"input": str(folder)})
    sample = clip_sample(clip, problems, apex_annotated=False, onset_annotated=False)
    _raise_first(problems)
    assert sample is not None
    if len(sample.frames) < 2:
        raise _too_short(origin or folder, len(sample.frames), "give a folder with the clip's frames (onset to offset)",
                         row=row, sample=str(folder) if origin else None)
    if warnings is not None:
        warnings.extend(problems)
    return sample


def _index(value: str | int | None, name: str, video: Path, n: int, where: dict) -> int | None:
    if value is None or value == "":
        return None
    index = parse_frame_ref(value)
    if index is None or not 0 <= index < n:
        raise ClipError(message=f"{name} {value!r} is not a frame index of this video (0..{n - 1})",
                        fix=f"give {'the ' + name + ' column' if where['row'] else '--' + name} as a 0-based frame "
                        "index", **where)
    return index


def video_sample(video: Path, *, onset: str | int | None = None, apex: str | int | None = None,
                 offset: str | int | None = None, name: str | None = None, origin: str | None = None,
                 row: int | None = None) -> Sample:
    """A video file as a sample; ``onset``/``apex``/``offset`` are 0-based frame indices.

    Args:
        origin, row: Where the video is named (a manifest and its row), for problems.

    Raises:
        ClipError: the video is missing, cannot be opened or decoded, has fewer than 2 frames,
            or an index is outside it or out of order.
    """
    from mertk.preprocess.frames import clip_length

    where = {"file": origin or str(video), "row": row, "sample": str(video) if origin else None}
    if not video.is_file():
        raise ClipError(message=f"video {video} does not exist",
                        fix="correct the path (relative to the CSV's folder)" if origin else
                        "pass a video file, a folder of frames or a manifest .csv", **where)
    capture = cv2.VideoCapture(str(video))
    readable = capture.isOpened() and capture.read()[0]
    capture.release()
    if not readable:
        raise ClipError(message="cannot read this video (not a video, damaged, or a codec OpenCV lacks)",
                        fix="convert it (e.g. `ffmpeg -i IN -c:v libx264 OUT.mp4`) or extract its frames into a "
                        "folder and pass the folder", **where)
    probe = Sample(id=str(video), subject=SUBJECT, clip=video.stem, dataset=DATASET, label=UNKNOWN_LABEL, video=video)
    n = clip_length(probe)
    if n < 2:
        raise _too_short(where["file"], n, "pass the whole clip (onset to offset)", row=row, sample=where["sample"])
    on, ap, off = (_index(v, k, video, n, where) for v, k in ((onset, "onset"), (apex, "apex"), (offset, "offset")))
    on = on or 0
    order = [p for p in (on, ap, off) if p is not None]
    if order != sorted(order):
        raise ClipError(message=f"onset, apex and offset are out of order ({on}, {ap}, {off})",
                        fix="give onset <= apex <= offset", **where)
    return Sample(id=str(video), subject=SUBJECT, clip=name or video.stem, dataset=DATASET, label=UNKNOWN_LABEL,
                  video=video, onset=on, apex=ap, offset=off, meta={"input": str(video)})


def _collect(problems: list[Problem] | None, make: Callable[..., Sample], *args: Any, **kwargs: Any) -> list[Sample]:
    """``[make(*args, **kwargs)]``; a :class:`ClipError` is raised without ``problems``, else
    appended there and ``[]`` returned."""
    try:
        return [make(*args, **kwargs)]
    except ClipError as exc:
        if problems is None:
            raise
        problems.append(exc.problem)
        return []


def _no_clip(manifest: Path, name: str | None, row: int) -> Sample:
    raise ClipError(manifest, name, "the row names no clip", "fill its 'frames' (a folder of frames) or 'video' column",
                    row=row)


def _no_input(path: Path) -> Sample:
    raise ClipError(path, None, "no such file or folder", "pass a video file, a folder of frames or a manifest .csv")


def manifest_samples(path: Path, problems: list[Problem] | None = None) -> list[Sample]:
    """One sample per row of a CSV with a ``frames`` or ``video`` column (see module docs).

    Args:
        problems: Receives every bad row's problem (the row is left out) and the warnings;
            without it, the first bad row raises.

    Raises:
        MertkError: the CSV cannot be read or has no rows; ``ClipError``: a bad row (without
            ``problems``).
    """
    from mertk.data.sheets import read_sheet

    rows = read_sheet(path, (), named_by="the command's INPUT argument")
    if not rows:
        raise MertkError(f"{path}: no rows. Fix: add one row per clip with a 'frames' or 'video' column")
    samples = []
    for row in rows:
        name = row.text("sample") or None
        refs = {k: row.cells.get(k) for k in ("onset", "apex", "offset")}
        where = {"origin": str(path), "row": row.row, "name": name}
        if row.text("frames"):
            folder = path.parent / row.text("frames")
            samples += _collect(problems, folder_sample, folder, warnings=problems, **where, **refs)
        elif row.text("video"):
            video = path.parent / row.text("video")
            frame_refs = {k: None if v is None else str(v) for k, v in refs.items()}
            samples += _collect(problems, video_sample, video, **where, **frame_refs)
        else:
            samples += _collect(problems, _no_clip, path, name, row.row)
    return samples


def clip_samples(inputs: Sequence[str | Path], *, onset: str | None = None, apex: str | None = None,
                 problems: list[Problem] | None = None) -> list[Sample]:
    """Samples for command-line inputs: frame folders, video files and manifest CSVs.

    ``onset``/``apex`` apply to every folder and video (see module docs for their units); a
    manifest gives its own per row.

    Args:
        problems: Receives the warnings and, as fatal problems, every bad clip (left out);
            without it, the first bad clip raises.

    Raises:
        ClipError: a bad clip (without ``problems``): a missing input, an unreadable video, a
            clip shorter than 2 frames, a frame reference outside a clip.
        MertkError: ``--onset``/``--apex`` with a manifest, an unreadable or empty manifest,
            or the same clip given twice.
    """
    samples: list[Sample] = []
    for given in inputs:
        path = Path(given)
        if path.suffix.lower() == ".csv" and path.is_file():
            if onset is not None or apex is not None:
                raise MertkError(f"{path}: --onset/--apex do not apply to a manifest. Fix: fill its 'onset' and "
                                 "'apex' columns instead")
            samples.extend(manifest_samples(path, problems))
        elif path.is_dir():
            samples += _collect(problems, folder_sample, path, onset=onset, apex=apex, warnings=problems)
        elif path.exists():
            samples += _collect(problems, video_sample, path, onset=onset, apex=apex)
        else:
            samples += _collect(problems, _no_input, path)
    seen: set[str] = set()
    for s in samples:
        if s.id in seen:
            raise MertkError(f"{s.id}: this clip is given twice. Fix: pass each clip once")
        seen.add(s.id)
    return samples
