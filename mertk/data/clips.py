"""Build a :class:`~mertk.api.Sample` from one annotated clip, collecting problems on the way.

Every dataset adapter reads its own sheet and layout, then hands each clip to
:func:`clip_sample`, which lists the frames, turns annotated frame numbers into positions in
``Sample.frames`` and reports what is wrong (with the annotation file and row):

* clip folder absent, no frames, onset unreadable or outside the clip, onset/apex/offset out
  of order, onset or apex frame an empty file: fatal, the sample is left out;
* apex missing (``/`` or blank): warning; the apex is left to the spotter (``missing_apex:
  spot``, ``Sample.apex is None``) or set to the midpoint of onset and offset (``midpoint``);
* an annotated frame missing inside the clip: warning, the nearest frame is used;
* gaps in the frame numbering: warning (positions stay correct, gaps are allowed).
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from mertk.api import Problem, Sample
from mertk.data.frames import frame_number, list_frames, parse_frame_ref

__all__ = ["MissingApex", "clip_sample", "count_excluded", "unique_key"]

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


def clip_sample(
    *,
    dataset: str,
    subject: str,
    clip: str,
    label: int,
    emotion: str,
    folder: Path,
    onset: Any,
    apex: Any,
    offset: Any,
    file: str,
    row: int | None,
    problems: list[Problem],
    key: str | None = None,
    missing_apex: MissingApex = "spot",
    apex_annotated: bool = True,
    meta: Mapping[str, Any] | None = None,
    sample_id: str | None = None,
) -> Sample | None:
    """One sample, or ``None`` after appending a fatal problem.

    Args:
        dataset: Source dataset name (``"casme2"``).
        subject: Subject key, unique across datasets (``"casme2/sub01"``).
        clip: Clip name as released; ``key`` (default ``clip``) makes the id unique.
        onset, apex, offset: Annotated frame references (numbers, names or blank cells);
            ``onset=None`` means the first frame, ``offset=None`` unknown.
        file, row: Where the clip is annotated, for problem reports.
        problems: Receives the problems found.
        apex_annotated: ``False`` for datasets without apex annotation (no per-clip warning).
        sample_id: The sample's id, when not ``{subject}/{key}`` (a clip given on the command line).
    """
    sample_id = sample_id or f"{subject}/{key or clip}"
    where = {"file": file, "row": row, "sample": sample_id}

    def fatal(message: str, fix: str) -> None:
        problems.append(Problem(message=message, fix=fix, **where))

    def warn(message: str, fix: str = "") -> None:
        problems.append(Problem(message=message, fix=fix, fatal=False, **where))

    if not folder.is_dir():
        fatal(f"clip folder {folder} does not exist", "restore the folder, or delete the row from the annotation")
        return None
    frames = list_frames(folder)
    if not frames:
        fatal(f"no frame images in {folder}", "restore the clip's frames")
        return None
    numbers = [frame_number(f.name) for f in frames]

    def position(name: str, value: Any) -> int | None | str:
        number = parse_frame_ref(value)
        if number is None:
            return None
        if not numbers[0] <= number <= numbers[-1]:
            return f"{name} frame {number} is outside the clip's frames {numbers[0]}..{numbers[-1]} in {folder}"
        i = bisect.bisect_left(numbers, number)
        if numbers[i] != number:
            i = min((i - 1, i), key=lambda j: abs(numbers[j] - number))
            warn(f"{name} frame {number} is missing from {folder}; using the nearest frame {frames[i].name}",
                 "restore the frame file if it was lost")
        return i

    on = position("onset", onset) if onset is not None else 0
    if on is None:
        fatal(f"onset frame {onset!r} is not a frame number", "correct the onset in the annotation")
        return None
    ap = position("apex", apex)
    off = position("offset", offset) if offset is not None else None
    for bad in (on, ap, off):
        if isinstance(bad, str):
            fatal(bad, "correct the annotation, or restore the missing frames")
            return None
    if off is None and offset not in (None, "") and parse_frame_ref(offset) is None:
        warn(f"offset {offset!r} is not a frame number; offset unknown")
    if ap is None:
        end = off if off is not None else len(frames) - 1
        if missing_apex == "midpoint":
            ap = (on + end) // 2
        if apex_annotated:
            fix = ("none needed: the spotter picks the apex" if missing_apex == "spot"
                   else f"none needed: the midpoint frame {frames[ap].name} is used")
            warn(f"apex is missing ({apex!r})", fix)
    order = [p for p in (on, ap, off) if p is not None]
    if order != sorted(order):
        fatal(f"onset, apex and offset frames are out of order ({onset}, {apex}, {offset})",
              "correct the annotation")
        return None
    for name, pos in (("onset", on), ("apex", ap)):
        if pos is not None and frames[pos].stat().st_size == 0:
            fatal(f"{name} frame {frames[pos]} is an empty file", "restore the frame file")
            return None
    last = off if off is not None else len(frames) - 1
    gaps = [n for a, b in zip(numbers[on:last], numbers[on + 1:last + 1]) for n in range(a + 1, b)]
    if gaps:
        shown = ", ".join(map(str, gaps[:5])) + (", ..." if len(gaps) > 5 else "")
        warn(f"{len(gaps)} frame number(s) missing inside the clip ({shown})",
             "none needed: positions follow the frames present")
    return Sample(
        id=sample_id, subject=subject, clip=clip, dataset=dataset, label=label, emotion=emotion,
        frames=frames, onset=on, apex=ap, offset=off,
        meta={"file": file, "row": row, "onset_frame": numbers[on],
              "apex_frame": numbers[ap] if ap is not None else None,
              "offset_frame": numbers[off] if off is not None else None, **(meta or {})},
    )
