"""SAMM Long Videos (200 fps, grey), the long recordings of SAMM used by MEGC's spotting task.

Layout: ``root`` is the ``SAMM_longvideos`` folder (one folder of frames per recording, named
``{subject}_{recording}``) or the folder holding it::

    SAMM_longvideos/006_1/006_1_0001.jpg ...
    SAMM_LongVideos_V1_Release.xlsx

Annotation: ``SAMM_LongVideos_V*_Release.xlsx`` (any such file in ``root`` or its parent is
found; ``annotation`` names another), preamble rows above a header with the columns
``Subject``, ``Filename`` (``006_1_2``: recording ``006_1``, expression 2), ``Inducement Code``,
``Onset``, ``Apex``, ``Offset`` (frame numbers; 0 where not coded), ``Duration``, ``Type``
(``Micro - 1/2`` or ``Macro``), ``Action Units``, ``Notes``. The header is found by its
columns, so the preamble's length does not matter.

The frames' file names are not documented by the release notes that public code quotes (only
``SAMM_longvideos/{subject}_{recording}/*.jpg`` sorted naturally): frame numbers are matched
against the last number of each file name, as for SAMM's clips. Confirm on the real files
(docs/spotting.md).

Videos: dataset ``samm-lv``, subject ``samm-lv/006``, id ``samm-lv/006/006_1``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from mertk.api import LongVideo, LongVideoLoad, Problem
from mertk.data.long_videos import AnnotatedInterval, MissingOffset, long_video
from mertk.data.sheets import find_annotation, read_sheet
from mertk.errors import MertkError

__all__ = ["SammLongVideos", "FPS"]

FPS = 200.0
NAME = "samm-lv"
_PATTERNS = ("SAMM_LongVideos_V*_Release.xlsx", "SAMM_LongVideos*.xlsx", "SAMM_LongVideos*.csv")
_FOLDER = re.compile(r"^(\d+)_(\d+)$")
_COLUMNS = ("subject", "filename", "onset", "apex", "offset", "type")


class SammLongVideos:
    """SAMM Long Videos: ``SAMM_longvideos/NNN_V/*.jpg`` recordings annotated in ``SAMM_LongVideos_V*_Release.xlsx``.

    Args:
        root: The ``SAMM_longvideos`` folder or the folder holding it.
        annotation: The workbook; default: found near ``root``.
        missing_offset: What a row with offset 0 becomes (see :class:`mertk.data.casme_squared.CasmeSquared`).
    """

    def __init__(self, root: str, annotation: str | None = None, missing_offset: MissingOffset = "problem") -> None:
        self.root, self.annotation, self.missing_offset = root, annotation, missing_offset

    def load(self) -> LongVideoLoad:
        given = Path(self.root).expanduser()
        base = given / "SAMM_longvideos" if (given / "SAMM_longvideos").is_dir() else given
        folders = {p.name: p for p in sorted(base.iterdir()) if p.is_dir() and _FOLDER.match(p.name)} \
            if base.is_dir() else {}
        if not folders:
            raise MertkError(f"{given}: no SAMM_longvideos folder with NNN_V recording folders here. Fix: set "
                             "dataset.root to the SAMM_longvideos folder or the folder holding it")
        sheet = Path(self.annotation).expanduser() if self.annotation else find_annotation(base, _PATTERNS)
        if sheet is None:
            raise MertkError(f"{base}: no SAMM_LongVideos_V*_Release.xlsx here nor in the parent folder. Fix: set "
                             "dataset.annotation to the workbook")
        problems: list[Problem] = []
        by_video: dict[str, list[AnnotatedInterval]] = defaultdict(list)
        for row in read_sheet(sheet, _COLUMNS, named_by="dataset.annotation"):
            parts = row.text("filename").split("_")
            if len(parts) < 3 or not all(p.isdigit() for p in parts[:2]):
                problems.append(Problem(str(sheet), f"Filename {row.text('filename')!r} is not "
                                        "{subject}_{recording}_{number}", "use the original workbook", row.row))
                continue
            by_video["_".join(parts[:2])].append(AnnotatedInterval(
                str(sheet), row.row, row.cells.get("onset"), row.cells.get("apex"), row.cells.get("offset"),
                row.text("type"), meta={"expression": row.text("filename"), "aus": row.text("actionunits")}))
        videos: list[LongVideo] = []
        for name, folder in folders.items():
            video = long_video(dataset=NAME, subject=name.split("_")[0], name=name, fps=FPS,
                               rows=by_video.get(name, ()), problems=problems, folder=folder,
                               missing_offset=self.missing_offset)
            if video is not None:
                videos.append(video)
        for name in sorted(set(by_video) - set(folders)):
            for interval in by_video[name]:
                problems.append(Problem(interval.file, f"no recording folder {name} under {base} for this row",
                                        "restore the recording's frames, or point dataset.root to "
                                        "SAMM_longvideos", interval.row))
        return LongVideoLoad(videos, problems)
