"""The shared part of the long-video adapters: place annotated intervals on a recording's frames.

An adapter (CAS(ME)^2, SAMM Long Videos, the long-video manifest, the long-video demo) finds each
recording and the annotation rows that belong to it, as :class:`AnnotatedInterval`;
:func:`long_video` lists the frames, turns released frame numbers into positions and checks every
row, reporting each defect as a :class:`~mertk.api.Problem` with its file, row and fix. A
recording with a fatal problem is left out whole (see :class:`mertk.api.LongVideoLoad`).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mertk.api import Interval, LongVideo, Problem
from mertk.data.frames import frame_number, list_frames, parse_frame_ref

__all__ = ["AnnotatedInterval", "MissingOffset", "expression_type", "long_video"]

#: What an annotation row without an offset (blank or 0, as CAS(ME)^2 and SAMM-LV write) becomes:
#: a fatal ``problem`` for its recording, or an interval ending at its ``apex`` (a warning).
MissingOffset = Literal["problem", "apex"]


@dataclass(frozen=True)
class AnnotatedInterval:
    """One annotation row of a recording, as released (frame numbers, type text)."""

    file: str
    row: int | None
    onset: Any
    apex: Any
    offset: Any
    expression: str
    #: Frame numbers are positions already (0-based), as in the manifest, rather than numbers
    #: found in frame file names.
    positions: bool = False
    meta: dict[str, Any] = field(default_factory=dict)


def expression_type(text: str) -> Literal["micro", "macro"] | None:
    """``"micro-expression"``, ``"Micro - 1/2"``, ``"micro"`` -> ``"micro"``; likewise macro; else ``None``."""
    word = text.strip().lower()
    if word.startswith("micro"):
        return "micro"
    if word.startswith("macro"):
        return "macro"
    return None


class _Placer:
    """Released frame numbers -> positions among a recording's listed frames."""

    def __init__(self, frames: Sequence[Path], length: int | None) -> None:
        self.numbers = [frame_number(p.name) for p in frames]
        self.length = length if not frames else len(frames)

    def position(self, value: Any, positions: bool) -> int | None | str:
        """The position of frame ``value``, ``None`` when blank, or why it cannot be placed."""
        number = parse_frame_ref(value)
        if number is None:
            return None
        if positions or not self.numbers:
            if self.length is not None and number >= self.length:
                return f"frame {number} is past the recording's end ({self.length} frames)"
            return number
        at = bisect.bisect_left(self.numbers, number)
        if at == len(self.numbers) or self.numbers[at] != number:
            return (f"frame {number} is not among the recording's frame files (numbered "
                    f"{self.numbers[0]}..{self.numbers[-1]})")
        return at


def _place(row: AnnotatedInterval, placer: _Placer, video_id: str, missing_offset: MissingOffset,
           problems: list[Problem]) -> Interval | None | str:
    """The row as an :class:`Interval`; a warning is appended to ``problems``; a fatal defect is
    returned as its message."""
    expression = expression_type(row.expression)
    if expression is None:
        return f"expression type {row.expression!r} is neither micro nor macro"
    raw = {"onset": row.onset, "apex": row.apex, "offset": row.offset}
    for name in ("apex", "offset"):
        if not row.positions and parse_frame_ref(raw[name]) == 0:
            raw[name] = None  # released sheets write 0 where a frame was not coded
    placed = {name: placer.position(value, row.positions) for name, value in raw.items()}
    for name, value in placed.items():
        if isinstance(value, str):
            return f"the {name}: {value}"
    onset, apex, offset = placed["onset"], placed["apex"], placed["offset"]
    if onset is None:
        return "the row has no onset frame"
    if offset is None:
        if missing_offset == "apex" and apex is not None:
            problems.append(Problem(row.file, "the row has no offset frame: the interval ends at its apex",
                                    "set the offset in the sheet", row.row, video_id, fatal=False))
            offset = apex
        else:
            return "the row has no offset frame (blank or 0)"
    if offset < onset:
        return f"the offset (position {offset}) is before the onset (position {onset})"
    if apex is not None and not onset <= apex <= offset:
        return f"the apex (position {apex}) is outside onset..offset ({onset}..{offset})"
    meta = {"file": row.file, "row": row.row, "frames": (row.onset, row.apex, row.offset), **row.meta}
    return Interval(onset, offset, expression, apex=apex, meta=meta)


def long_video(*, dataset: str, subject: str, name: str, fps: float, rows: Sequence[AnnotatedInterval],
               problems: list[Problem], folder: Path | None = None, video: Path | None = None,
               length: int | None = None, missing_offset: MissingOffset = "problem",
               fix: str = "correct the sheet row, or restore the frames") -> LongVideo | None:
    """Build one recording, or ``None`` (its problems appended to ``problems``) when it cannot be used.

    Args:
        dataset: Dataset name; the id is ``{dataset}/{subject}/{name}``, the subject key
            ``{dataset}/{subject}``.
        subject: The subject as released (``"s15"``, ``"006"``).
        name: The recording's name.
        fps: Frames per second.
        rows: Its annotation rows.
        problems: Where problems go (warnings too).
        folder: A folder of frame images, or
        video: a video file (then ``length``, its frame count when known, bounds the positions).
        missing_offset: What a row without an offset becomes (see :data:`MissingOffset`).
        fix: The fix named for a row that cannot be placed.
    """
    video_id = f"{dataset}/{subject}/{name}"
    where = str(folder or video)
    frames: tuple[Path, ...] = ()
    if folder is not None:
        frames = list_frames(folder) if folder.is_dir() else ()
        if not frames:
            problems.append(Problem(where, "no frame images (jpg, png, bmp, tif) with a frame number in this folder",
                                    "restore the recording's frames, or point the dataset root to them",
                                    sample=video_id))
            return None
    elif video is None or not video.is_file():
        problems.append(Problem(where, "video file not found", "restore the file or correct its path", sample=video_id))
        return None
    if not fps or fps <= 0:
        problems.append(Problem(where, f"frame rate {fps!r} is not a positive number", "give the recording's fps",
                                sample=video_id))
        return None
    placer = _Placer(frames, length)
    intervals, fatal = [], False
    for row in rows:
        placed = _place(row, placer, video_id, missing_offset, problems)
        if isinstance(placed, str):
            problems.append(Problem(row.file, placed, fix, row.row, video_id))
            fatal = True
        elif placed is not None:
            intervals.append(placed)
    if fatal:
        return None
    intervals.sort(key=lambda i: (i.onset, i.offset))
    return LongVideo(id=video_id, subject=f"{dataset}/{subject}", name=name, dataset=dataset, fps=float(fps),
                     frames=frames, video=video, intervals=tuple(intervals), meta={"folder": where})
