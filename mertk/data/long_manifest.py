"""Long-video manifests: recordings prepared elsewhere, listed in a CSV with their intervals.

The manifest has one row per recording, header required, comma separated::

    video,subject,dataset,fps,intervals
    frames/sub01_v1,sub01,lab,30,intervals/sub01_v1.csv
    recordings/sub02.mp4,sub02,lab,,intervals/sub02.csv

* ``video`` (required): a folder of frame images (sorted by the number in their names) or a
  video file OpenCV reads. ``subject`` (required). ``dataset`` (default ``manifest``): subject
  keys become ``{dataset}/{subject}``, ids ``{dataset}/{subject}/{name of video}``.
* ``fps``: required for a frame folder; for a video file, blank means the file's own rate.
* ``intervals``: a CSV of the recording's expressions (blank: none annotated), columns
  ``onset``, ``offset``, ``type`` (``micro`` or ``macro``) and optionally ``apex``, each a
  0-based frame position in the recording (the n-th listed frame file, or the n-th frame of the
  video), both ends included.
* Relative paths are relative to ``root`` (default: the manifest's folder); an intervals file's
  relative paths do not occur.

Every defect (a missing folder or file, a row that cannot be placed) is reported at once with
its file and row; a recording with one is left out whole.
"""

from __future__ import annotations

from pathlib import Path

from mertk.api import LongVideo, LongVideoLoad, Problem
from mertk.data.long_videos import AnnotatedInterval, long_video
from mertk.data.manifest_rows import unique_rows
from mertk.data.sheets import SheetRow, read_sheet
from mertk.errors import MertkError

__all__ = ["LongVideoManifest", "video_fps"]


def video_fps(path: Path) -> tuple[float, int | None]:
    """A video file's frame rate and frame count (``None`` when the container does not store it)."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    try:
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        return float(capture.get(cv2.CAP_PROP_FPS) or 0.0), count if count > 0 else None
    finally:
        capture.release()


class LongVideoManifest:
    """Recordings (frame folders or video files) and their interval CSVs, listed in a manifest CSV.

    Args:
        path: The manifest CSV.
        root: Where relative paths start (default: the manifest's folder).
    """

    def __init__(self, path: str, root: str | None = None) -> None:
        self.path, self.root = Path(path).expanduser(), root

    def load(self) -> LongVideoLoad:
        base = Path(self.root).expanduser() if self.root else self.path.parent
        rows = read_sheet(self.path, ("video", "subject"), named_by="dataset.path")
        problems: list[Problem] = []
        videos = unique_rows(self.path, rows, lambda row: self._row_video(row, base, problems), problems,
                             noun="recording", plural="recordings")
        return LongVideoLoad(videos, problems)

    def _row_video(self, row: SheetRow, base: Path, problems: list[Problem]) -> LongVideo | None:
        """One manifest row's recording, or ``None`` (with its problems added) when it cannot be used."""
        where = {"file": str(self.path), "row": row.row}
        if not row.text("video") or not row.text("subject"):
            problems.append(Problem(message="the row needs a video and a subject", fix="fill both cells", **where))
            return None
        target = base / row.text("video")
        dataset = row.text("dataset") or "manifest"
        fps_text, length = row.text("fps"), None
        try:
            fps = float(fps_text) if fps_text else 0.0
        except ValueError:
            problems.append(Problem(message=f"fps {fps_text!r} is not a number", fix="give the frame rate", **where))
            return None
        is_file = target.is_file()
        if is_file:
            own_fps, length = video_fps(target)
            fps = fps or own_fps
        elif not target.is_dir():
            problems.append(Problem(message=f"{target} is neither a frame folder nor a video file",
                                    fix="correct the video cell, or restore the recording", **where))
            return None
        elif not fps:
            problems.append(Problem(message="a frame folder needs its fps", fix="fill the fps cell", **where))
            return None
        intervals = self._intervals(base, row.text("intervals"), where, problems)
        if intervals is None:
            return None
        return long_video(dataset=dataset, subject=row.text("subject"), name=target.stem if is_file else target.name,
                          fps=fps, rows=intervals, problems=problems, folder=None if is_file else target,
                          video=target if is_file else None, length=length, fix="correct the interval row")

    @staticmethod
    def _intervals(base: Path, cell: str, where: dict, problems: list[Problem]) -> list[AnnotatedInterval] | None:
        """The rows of a recording's intervals CSV (``[]`` for a blank cell), or ``None`` when it is unreadable."""
        if not cell:
            return []
        path = base / cell
        try:
            rows = read_sheet(path, ("onset", "offset", "type"), named_by=f"the intervals cell of row {where['row']}")
        except MertkError as exc:
            problems.append(Problem(message=str(exc), fix="correct the intervals cell, or the file", **where))
            return None
        return [AnnotatedInterval(str(path), r.row, r.cells.get("onset"), r.cells.get("apex"), r.cells.get("offset"),
                                  r.text("type"), positions=True) for r in rows]
