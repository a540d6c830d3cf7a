"""Build a :class:`~mertk.api.Sample` from one annotated clip, collecting problems on the way.

Every dataset adapter reads its own sheet and layout, then hands each clip to
:func:`clip_sample`, which lists the frames, turns annotated frame numbers into positions in
``Sample.frames`` and reports what is wrong (with the annotation file and row):

* clip folder absent (or a file, not a folder), no frames, onset unreadable or outside the
  clip, onset/apex/offset out of order, onset or apex frame an empty file: fatal, the sample is
  left out;
* onset blank (or no onset column): the first frame is the onset; apex missing (``/`` or
  blank): the apex is left to the spotter (``missing_apex: spot``, ``Sample.apex is None``) or
  set to the midpoint of onset and offset (``midpoint``). One warning per clip says what was
  assumed for each (for sources that annotate them: ``onset_annotated``/``apex_annotated``);
* an annotated frame missing inside the clip: warning, the nearest frame is used;
* gaps in the frame numbering: warning (positions stay correct, gaps are allowed).
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mertk.api import Problem, Sample
from mertk.data.frames import frame_number, list_frames, parse_frame_ref

__all__ = ["MissingApex", "AnnotatedClip", "clip_sample", "count_excluded", "unique_key"]

#: What to do when a clip has no apex annotation.
MissingApex = Literal["spot", "midpoint"]


def count_excluded(excluded: dict[str, int], reason: str) -> None:
    """Count one row left out on purpose (not a problem) under ``reason``."""
    excluded[reason] = excluded.get(reason, 0) + 1


def unique_key(clip: str, seen: dict[tuple[str, str], int], subject: str) -> str:
    """``clip`` the first time a subject uses it, then ``clip.2``, ``clip.3``, ..."""
    count = seen.get((subject, clip), 0) + 1
    seen[(subject, clip)] = count
    return clip if count == 1 else f"{clip}.{count}"


@dataclass(frozen=True)
class AnnotatedClip:
    """One clip as an annotation describes it, before its frames are checked.

    Attributes:
        dataset: Source dataset name (``"casme2"``).
        subject: Subject key, unique across datasets (``"casme2/sub01"``).
        clip: Clip name as released; ``key`` (default ``clip``) makes the sample id unique.
        label, emotion: Class index and the emotion as annotated.
        folder: The clip's frame folder.
        onset, apex, offset: Annotated frame references (numbers, names or blank cells);
            ``onset=None`` means the first frame, ``offset=None`` unknown.
        file, row: Where the clip is annotated, for problem reports.
        meta: Extra fields copied into ``Sample.meta``.
        aus: The clip's action units (``Sample.aus``; ``None``: not coded).
        id: The sample's id when not ``{subject}/{key}`` (a clip given on the command line).
    """

    dataset: str
    subject: str
    clip: str
    label: int
    emotion: str
    folder: Path
    onset: Any
    apex: Any
    offset: Any
    file: str
    row: int | None
    key: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    aus: tuple[str, ...] | None = None
    id: str | None = None

    @property
    def sample_id(self) -> str:
        return self.id or f"{self.subject}/{self.key or self.clip}"


class _Report:
    """Appends the problems of one clip, each naming its annotation file, row and sample."""

    def __init__(self, clip: AnnotatedClip, problems: list[Problem]) -> None:
        self.where = {"file": clip.file, "row": clip.row, "sample": clip.sample_id}
        self.problems = problems

    def fatal(self, message: str, fix: str) -> None:
        self.problems.append(Problem(message=message, fix=fix, **self.where))

    def warn(self, message: str, fix: str = "") -> None:
        self.problems.append(Problem(message=message, fix=fix, fatal=False, **self.where))


@dataclass(frozen=True)
class _Frames:
    """A clip's frame files in order and their frame numbers."""

    folder: Path
    paths: list[Path]
    numbers: list[int]

    def position(self, name: str, value: Any, report: _Report) -> int | None | str:
        """Position in ``paths`` of the annotated frame ``value``: ``None`` when blank, a fatal
        message when outside the clip; a missing frame inside the clip takes the nearest one."""
        number = parse_frame_ref(value)
        if number is None:
            return None
        numbers = self.numbers
        if not numbers[0] <= number <= numbers[-1]:
            return f"{name} frame {number} is outside the clip's frames {numbers[0]}..{numbers[-1]} in {self.folder}"
        i = bisect.bisect_left(numbers, number)
        if numbers[i] != number:
            i = min((i - 1, i), key=lambda j: abs(numbers[j] - number))
            report.warn(f"{name} frame {number} is missing from {self.folder}; using the nearest frame "
                        f"{self.paths[i].name}", "restore the frame file if it was lost")
        return i


def _list_clip_frames(clip: AnnotatedClip, report: _Report) -> _Frames | None:
    if clip.folder.exists() and not clip.folder.is_dir():
        report.fatal(f"clip folder {clip.folder} is a file, not a folder",
                     "point the annotation to the folder that holds the clip's frames")
        return None
    if not clip.folder.is_dir():
        report.fatal(f"clip folder {clip.folder} does not exist",
                     "restore the folder, or delete the row from the annotation")
        return None
    paths = list_frames(clip.folder)
    if not paths:
        report.fatal(f"no frame images in {clip.folder}", "restore the clip's frames")
        return None
    return _Frames(clip.folder, paths, [frame_number(f.name) for f in paths])


def _annotated_positions(clip: AnnotatedClip, frames: _Frames,
                         report: _Report) -> tuple[int, int | None, int | None] | None:
    """``(onset, apex, offset)`` positions (apex and offset may be unknown), or ``None`` after a
    fatal problem."""
    on = 0 if _blank(clip.onset) else frames.position("onset", clip.onset, report)
    if on is None:
        report.fatal(f"onset frame {clip.onset!r} is not a frame number", "correct the onset in the annotation")
        return None
    ap = frames.position("apex", clip.apex, report)
    off = frames.position("offset", clip.offset, report) if clip.offset is not None else None
    for bad in (on, ap, off):
        if isinstance(bad, str):
            report.fatal(bad, "correct the annotation, or restore the missing frames")
            return None
    if off is None and clip.offset not in (None, "") and parse_frame_ref(clip.offset) is None:
        report.warn(f"offset {clip.offset!r} is not a frame number; offset unknown")
    return on, ap, off


def _blank(value: Any) -> bool:
    """An annotation cell that gives nothing: absent (``None``) or blank text."""
    return value is None or (isinstance(value, str) and not value.strip())


def _fill_missing_apex(frames: _Frames, on: int, off: int | None, missing_apex: MissingApex) -> int | None:
    """The apex of a clip annotated without one: the midpoint, or ``None`` for the spotter."""
    end = off if off is not None else len(frames.paths) - 1
    return (on + end) // 2 if missing_apex == "midpoint" else None


def _warn_assumed(clip: AnnotatedClip, frames: _Frames, on: int, ap: int | None, report: _Report, *,
                  onset: bool, apex: bool) -> None:
    """One warning naming what was assumed for a missing onset (``onset``) and/or apex (``apex``)."""
    missing = [(name, getattr(clip, name)) for name, flag in (("onset", onset), ("apex", apex)) if flag]
    if not missing:
        return
    assumed = []
    if onset:
        assumed.append(f"the first frame {frames.paths[on].name} is taken as the onset")
    if apex:
        assumed.append("the spotter picks the apex" if ap is None
                       else f"the midpoint frame {frames.paths[ap].name} is taken as the apex")
    names = " and ".join(name for name, _ in missing)
    given = ", ".join(f"{name} {value!r}" for name, value in missing)
    fix = ("none needed if the clip starts at its onset; otherwise give the onset frame" if onset
           else "none needed")
    report.warn(f"{names} {'are' if len(missing) > 1 else 'is'} missing ({given}): " + ", and ".join(assumed), fix)


def _check_order_and_files(clip: AnnotatedClip, frames: _Frames, positions: tuple[int, int | None, int | None],
                           report: _Report) -> bool:
    """Onset <= apex <= offset, and the onset and apex frames are not empty files."""
    order = [p for p in positions if p is not None]
    if order != sorted(order):
        report.fatal(f"onset, apex and offset frames are out of order ({clip.onset}, {clip.apex}, {clip.offset})",
                     "correct the annotation")
        return False
    for name, pos in (("onset", positions[0]), ("apex", positions[1])):
        if pos is not None and frames.paths[pos].stat().st_size == 0:
            report.fatal(f"{name} frame {frames.paths[pos]} is an empty file", "restore the frame file")
            return False
    return True


def _warn_numbering_gaps(frames: _Frames, on: int, off: int | None, report: _Report) -> None:
    numbers = frames.numbers
    last = off if off is not None else len(numbers) - 1
    gaps = [n for a, b in zip(numbers[on:last], numbers[on + 1:last + 1]) for n in range(a + 1, b)]
    if gaps:
        shown = ", ".join(map(str, gaps[:5])) + (", ..." if len(gaps) > 5 else "")
        report.warn(f"{len(gaps)} frame number(s) missing inside the clip ({shown})",
                    "none needed: positions follow the frames present")


def clip_sample(clip: AnnotatedClip, problems: list[Problem], *, missing_apex: MissingApex = "spot",
                apex_annotated: bool = True, onset_annotated: bool = True) -> Sample | None:
    """One sample, or ``None`` after appending a fatal problem (see the module docs).

    Args:
        clip: The clip as annotated.
        problems: Receives the problems found.
        missing_apex: What a blank apex becomes: ``spot`` (left to the spotter) or ``midpoint``.
        apex_annotated: ``False`` for sources without apex annotation (no per-clip warning).
        onset_annotated: ``False`` for sources where a clip starting at its first frame is the
            rule (no per-clip warning when the onset is not given).
    """
    report = _Report(clip, problems)
    frames = _list_clip_frames(clip, report)
    positions = _annotated_positions(clip, frames, report) if frames is not None else None
    if positions is None:
        return None
    on, ap, off = positions
    apex_missing = ap is None
    if apex_missing:
        ap = _fill_missing_apex(frames, on, off, missing_apex)
    if not _check_order_and_files(clip, frames, (on, ap, off), report):
        return None
    _warn_assumed(clip, frames, on, ap, report, onset=onset_annotated and _blank(clip.onset),
                  apex=apex_annotated and apex_missing)
    _warn_numbering_gaps(frames, on, off, report)
    numbers = frames.numbers
    return Sample(
        id=clip.sample_id, subject=clip.subject, clip=clip.clip, dataset=clip.dataset, label=clip.label,
        emotion=clip.emotion, frames=frames.paths, onset=on, apex=ap, offset=off, aus=clip.aus,
        meta={"file": clip.file, "row": clip.row, "onset_frame": numbers[on],
              "apex_frame": numbers[ap] if ap is not None else None,
              "offset_frame": numbers[off] if off is not None else None, **clip.meta},
    )
