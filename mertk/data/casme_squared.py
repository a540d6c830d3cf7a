"""CAS(ME)^2 long videos (Chinese Academy of Sciences Macro-Expressions and Micro-Expressions, 30 fps).

Layout: ``root`` is the ``rawpic`` folder (one ``sNN`` folder per subject, one folder of frames
per recording) or the dataset folder holding it::

    rawpic/s15/15_0101disgustingteeth/img1.jpg ...
    CAS(ME)^2code_final.xlsx

Annotation: ``CAS(ME)^2code_final.xlsx`` (also released as ``CAS(ME)^2code_final(Updated).xlsx``;
any ``CAS(ME)^2code_final*.xlsx`` in ``root`` or its parent is found, ``annotation`` names
another file), a workbook of three sheets, none with a header row:

* the first sheet, one row per expression: participant number, expression name (``disgust1_1``:
  the recording's name in the sheet and a running number), onset, apex and offset frame numbers
  (offset 0 where it was not coded), action units, estimated emotion, expression type
  (``micro-expression`` or ``macro-expression``) and self-reported emotion;
* ``naming rule1``: subject folder number (``15`` for ``s15``), subject label, participant number;
* ``naming rule2``: recording code (``0101``, the digits after ``15_`` in the folder name) and
  the recording's name in the first sheet (``disgust1``).

This is how public spotting baselines read the release (MDMD's and SOFTNet's loaders); frame
numbers are matched against the last number of the ``imgN.jpg`` names, which those loaders
assume by indexing the sorted frames with ``onset - 1``. Neither is documented by the
dataset's authors: confirm on the real files before trusting a result (docs/spotting.md).

Videos: dataset ``casme-squared``, subject ``casme-squared/s15``, id
``casme-squared/s15/15_0101disgustingteeth``; every recording folder is a video, annotated or not.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from mertk.api import LongVideo, LongVideoLoad, Problem
from mertk.data.frames import last_number
from mertk.data.layout import numbered_folders, resolve_root
from mertk.data.long_videos import AnnotatedInterval, MissingOffset, long_video
from mertk.data.sheets import SheetRow, find_annotation, read_headerless
from mertk.errors import MertkError

__all__ = ["CasmeSquared", "FPS", "CODE_COLUMNS"]

FPS = 30.0
NAME = "casme-squared"
CODE_COLUMNS = ("participant", "expression", "onset", "apex", "offset", "aus", "emotion", "type", "reported")
_PATTERNS = ("CAS(ME)^2code_final*.xlsx", "CAS(ME)2code_final*.xlsx", "CAS(ME)*code*.xlsx")
_FOLDER = re.compile(r"^(\d+)_(\d{4})")


def _code(value: object) -> str:
    """A recording code cell (``"0101"``, or ``101`` where the sheet stored a number) as 4 digits."""
    text = str(int(value)) if isinstance(value, float) else str(value or "").strip()
    return text.zfill(4) if text.isdigit() else text


class CasmeSquared:
    """CAS(ME)^2: ``rawpic/sNN/NN_CCCC*/imgN.jpg`` recordings annotated in ``CAS(ME)^2code_final.xlsx``.

    Args:
        root: The ``rawpic`` folder or the dataset folder holding it.
        annotation: The workbook; default: found near ``root``.
        missing_offset: What a row with offset 0 becomes: a fatal ``problem`` for its recording,
            or an interval ending at the ``apex`` (as some baselines do; a warning per row).
    """

    def __init__(self, root: str, annotation: str | None = None, missing_offset: MissingOffset = "problem") -> None:
        self.root, self.annotation, self.missing_offset = root, annotation, missing_offset

    def load(self) -> LongVideoLoad:
        base = resolve_root(self.root, "s", ("rawpic",), "CAS(ME)^2")
        sheet = Path(self.annotation).expanduser() if self.annotation else find_annotation(base, _PATTERNS) \
            or find_annotation(base.parent, _PATTERNS)
        if sheet is None:
            raise MertkError(f"{base}: no CAS(ME)^2code_final*.xlsx here nor in the parent folders. Fix: set "
                             "dataset.annotation to the workbook")
        named_by = "dataset.annotation"
        rows = read_headerless(sheet, CODE_COLUMNS, sheet=0, named_by=named_by)
        subjects = {self._int(r.cells.get("participant")): self._int(r.cells.get("folder"))
                    for r in read_headerless(sheet, ("folder", "label", "participant"), sheet="naming rule1",
                                             named_by=named_by)}
        names = {str(r.cells.get("name") or "").strip(): _code(r.cells.get("code"))
                 for r in read_headerless(sheet, ("code", "name"), sheet="naming rule2", named_by=named_by)}
        problems: list[Problem] = []
        by_video: dict[tuple[int, str], list[AnnotatedInterval]] = defaultdict(list)
        for row in rows:
            if self._int(row.cells.get("participant")) is None:
                continue  # a title or header row some copies carry
            key = self._video_key(row, subjects, names, sheet, problems)
            if key is not None:
                by_video[key].append(AnnotatedInterval(str(sheet), row.row, row.cells.get("onset"),
                                                       row.cells.get("apex"), row.cells.get("offset"),
                                                       row.text("type"), meta={"expression": row.text("expression"),
                                                                               "emotion": row.text("emotion"),
                                                                               "aus": row.text("aus")}))
        videos: list[LongVideo] = []
        found: set[tuple[int, str]] = set()
        for number, folder in numbered_folders(base, "s").items():
            for recording in sorted(p for p in folder.iterdir() if p.is_dir()):
                match = _FOLDER.match(recording.name)
                if not match:
                    continue
                key = (number, match.group(2))
                found.add(key)
                video = long_video(dataset=NAME, subject=folder.name, name=recording.name, fps=FPS,
                                   rows=by_video.get(key, ()), problems=problems, folder=recording,
                                   missing_offset=self.missing_offset)
                if video is not None:
                    videos.append(video)
        for key in sorted(set(by_video) - found):
            for interval in by_video[key]:
                problems.append(Problem(interval.file, f"no recording folder s{key[0]:02d}/{key[0]:02d}_{key[1]}* "
                                        f"under {base} for this row", "restore the recording's frames, or point "
                                        "dataset.root to the rawpic folder", interval.row))
        return LongVideoLoad(videos, problems)

    @staticmethod
    def _int(value: object) -> int | None:
        number = last_number(str(value)) if value is not None else None
        return number

    def _video_key(self, row: SheetRow, subjects: dict, names: dict, sheet: Path,
                   problems: list[Problem]) -> tuple[int, str] | None:
        participant = self._int(row.cells.get("participant"))
        subject = subjects.get(participant)
        recording = row.text("expression").rsplit("_", 1)[0]
        code = names.get(recording)
        if subject is None:
            problems.append(Problem(str(sheet), f"participant {participant} is not in the sheet 'naming rule1'",
                                    "use the original workbook", row.row))
            return None
        if code is None:
            problems.append(Problem(str(sheet), f"recording {recording!r} (from {row.text('expression')!r}) is not in "
                                    "the sheet 'naming rule2'", "use the original workbook", row.row))
            return None
        return subject, code
