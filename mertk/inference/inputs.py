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
``preprocess.spotter``) picks it from the whole clip.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2

from mertk.api import Problem, Sample
from mertk.data.clips import AnnotatedClip, clip_sample
from mertk.data.frames import parse_frame_ref
from mertk.errors import MertkError

__all__ = ["VIDEO_SUFFIXES", "clip_samples", "folder_sample", "video_sample", "manifest_samples"]

VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".m4v"})
SUBJECT = DATASET = "predict"
UNKNOWN_LABEL = -1


def _fail(problems: Sequence[Problem]) -> None:
    fatal = [p for p in problems if p.fatal]
    if fatal:
        raise MertkError(str(fatal[0]))


def _too_short(where: object, n: int, fix: str) -> MertkError:
    return MertkError(f"{where}: the clip has {n} frame{'s' if n != 1 else ''}; a micro-expression needs at least an "
                      f"onset and an apex frame (2 frames). Fix: {fix}")


def folder_sample(folder: Path, *, onset: str | int | None = None, apex: str | int | None = None,
                  offset: str | int | None = None, name: str | None = None, origin: str | None = None,
                  warnings: list[Problem] | None = None) -> Sample:
    """A frame folder as a sample; ``onset``/``apex``/``offset`` are frame numbers or names.

    Raises:
        MertkError: no frames, fewer than 2 frames, a frame reference outside the clip or out of order.
    """
    problems: list[Problem] = []
    clip = AnnotatedClip(dataset=DATASET, subject=SUBJECT, clip=name or folder.name, label=UNKNOWN_LABEL, emotion="",
                         folder=folder, onset=onset, apex=apex, offset=offset, file=origin or str(folder), row=None,
                         id=str(folder), meta={"input": str(folder)})
    sample = clip_sample(clip, problems, apex_annotated=False)
    _fail(problems)
    assert sample is not None
    if len(sample.frames) < 2:
        raise _too_short(folder, len(sample.frames), "give a folder with the clip's frames (onset to offset)")
    if warnings is not None:
        warnings.extend(problems)
    return sample


def _index(value: str | int | None, name: str, video: Path, n: int) -> int | None:
    if value is None or value == "":
        return None
    index = parse_frame_ref(value)
    if index is None or not 0 <= index < n:
        raise MertkError(f"{video}: {name} {value!r} is not a frame index of this video (0..{n - 1}). Fix: give "
                         f"--{name} as a 0-based frame index")
    return index


def video_sample(video: Path, *, onset: str | int | None = None, apex: str | int | None = None,
                 offset: str | int | None = None, name: str | None = None) -> Sample:
    """A video file as a sample; ``onset``/``apex``/``offset`` are 0-based frame indices.

    Raises:
        MertkError: the video cannot be opened or decoded, has fewer than 2 frames, or an index
            is outside it or out of order.
    """
    from mertk.preprocess.frames import clip_length

    capture = cv2.VideoCapture(str(video))
    readable = capture.isOpened() and capture.read()[0]
    capture.release()
    if not readable:
        raise MertkError(f"{video}: cannot read this video (not a video, damaged, or a codec OpenCV lacks). Fix: "
                         "convert it (e.g. `ffmpeg -i IN -c:v libx264 OUT.mp4`) or extract its frames into a "
                         "folder and pass the folder")
    probe = Sample(id=str(video), subject=SUBJECT, clip=video.stem, dataset=DATASET, label=UNKNOWN_LABEL, video=video)
    n = clip_length(probe)
    if n < 2:
        raise _too_short(video, n, "pass the whole clip (onset to offset)")
    on, ap, off = (_index(v, k, video, n) for v, k in ((onset, "onset"), (apex, "apex"), (offset, "offset")))
    on = on or 0
    order = [p for p in (on, ap, off) if p is not None]
    if order != sorted(order):
        raise MertkError(f"{video}: onset, apex and offset are out of order ({on}, {ap}, {off}). Fix: give "
                         "onset <= apex <= offset")
    return Sample(id=str(video), subject=SUBJECT, clip=name or video.stem, dataset=DATASET, label=UNKNOWN_LABEL,
                  video=video, onset=on, apex=ap, offset=off, meta={"input": str(video)})


def manifest_samples(path: Path, warnings: list[Problem] | None = None) -> list[Sample]:
    """One sample per row of a CSV with a ``frames`` or ``video`` column (see module docs)."""
    from mertk.data.sheets import read_sheet

    rows = read_sheet(path, (), named_by="the command's INPUT argument")
    samples = []
    for row in rows:
        where = f"{path}, row {row.row}"
        name = row.text("sample") or None
        refs = {k: row.cells.get(k) for k in ("onset", "apex", "offset")}
        if row.text("frames"):
            folder = path.parent / row.text("frames")
            try:
                samples.append(folder_sample(folder, name=name, origin=where, warnings=warnings, **refs))
            except MertkError as exc:
                raise MertkError(f"{where}: {exc}") from None
        elif row.text("video"):
            video = path.parent / row.text("video")
            if not video.is_file():
                raise MertkError(f"{where}: video {video} does not exist. Fix: correct the path (relative to the "
                                 "CSV's folder)")
            frame_refs = {k: None if v is None else str(v) for k, v in refs.items()}
            samples.append(video_sample(video, name=name, **frame_refs))
        else:
            raise MertkError(f"{where}: the row names no clip. Fix: fill its 'frames' (a folder of frames) or "
                             "'video' column")
    if not samples:
        raise MertkError(f"{path}: no rows. Fix: add one row per clip with a 'frames' or 'video' column")
    return samples


def clip_samples(inputs: Sequence[str | Path], *, onset: str | None = None, apex: str | None = None,
                 warnings: list[Problem] | None = None) -> list[Sample]:
    """Samples for command-line inputs: frame folders, video files and manifest CSVs.

    ``onset``/``apex`` apply to every folder and video (see module docs for their units); a
    manifest gives its own per row.

    Raises:
        MertkError: a missing input, an unreadable video, a clip shorter than 2 frames, a frame
            reference outside a clip, or the same clip given twice.
    """
    samples: list[Sample] = []
    for given in inputs:
        path = Path(given)
        if not path.exists():
            raise MertkError(f"{path}: no such file or folder. Fix: pass a video file, a folder of frames or a "
                             "manifest .csv")
        if path.is_dir():
            samples.append(folder_sample(path, onset=onset, apex=apex, warnings=warnings))
        elif path.suffix.lower() == ".csv":
            if onset is not None or apex is not None:
                raise MertkError(f"{path}: --onset/--apex do not apply to a manifest. Fix: fill its 'onset' and "
                                 "'apex' columns instead")
            samples.extend(manifest_samples(path, warnings))
        else:
            samples.append(video_sample(path, onset=onset, apex=apex))
    seen: set[str] = set()
    for s in samples:
        if s.id in seen:
            raise MertkError(f"{s.id}: this clip is given twice. Fix: pass each clip once")
        seen.add(s.id)
    return samples
