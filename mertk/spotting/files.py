"""The files of a ``mertk spot`` run folder that hold one recording's result.

``videos/{name}.csv`` (the intervals found, ``onset,offset,apex,type,score`` in 0-based frame
positions) is written last, atomically, when a recording is finished: it is the recording's resume
marker. ``signals/{name}.npz`` (the spotter's per-frame signals and thresholds) is written before
it, and the timeline picture from both.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from mertk.api import Interval
from mertk.errors import MertkError
from mertk.files import temporary_file, write_csv_atomic

__all__ = ["INTERVAL_COLUMNS", "file_stem", "write_intervals", "read_intervals", "write_signals", "read_signals"]

INTERVAL_COLUMNS = ("onset", "offset", "apex", "type", "score")


def file_stem(video_id: str) -> str:
    """A file name for a recording id (``long-demo/sub01/sub01_1`` -> ``long-demo__sub01__sub01_1``)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", video_id.replace("/", "__"))


def write_intervals(path: Path, intervals: Sequence[Interval]) -> None:
    """The intervals as CSV, atomically."""
    write_csv_atomic(path, INTERVAL_COLUMNS, ([i.onset, i.offset, "" if i.apex is None else i.apex, i.expression,
                                               "" if i.score is None else f"{i.score:.6g}"] for i in intervals))


def read_intervals(path: Path) -> list[Interval]:
    """The intervals a finished recording's CSV holds.

    Raises:
        MertkError: the file is not such a CSV (edited, damaged), naming the row and the fix.
    """
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    out = []
    for number, row in enumerate(rows, start=2):
        try:
            apex, score = row["apex"], row["score"]
            interval = Interval(int(row["onset"]), int(row["offset"]), row["type"], int(apex) if apex else None,
                                float(score) if score else None)
        except (KeyError, TypeError, ValueError) as exc:
            raise MertkError(f"{path}, row {number}: not a row of spotted intervals ({exc}). Fix: delete the file, "
                             "and resuming spots that recording again") from None
        if interval.expression not in ("micro", "macro") or interval.offset < interval.onset:
            raise MertkError(f"{path}, row {number}: {interval.onset}-{interval.offset} {interval.expression!r} is no "
                             "micro or macro interval. Fix: delete the file, and resuming spots that recording again")
        out.append(interval)
    return out


def write_signals(path: Path, signals: Mapping[str, np.ndarray], thresholds: Mapping[str, float]) -> None:
    """The per-frame signals and their thresholds as ``.npz``, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temporary_file(path.parent, prefix=f".{path.name}-", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **{f"signal_{k}": v for k, v in signals.items()},
                     **{f"threshold_{k}": np.float32(v) for k, v in thresholds.items()})
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_signals(path: Path) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """The signals and thresholds :func:`write_signals` wrote (empty when the file is not there)."""
    if not path.is_file():
        return {}, {}
    with np.load(path) as data:
        signals = {k[len("signal_"):]: data[k] for k in data.files if k.startswith("signal_")}
        thresholds = {k[len("threshold_"):]: float(data[k]) for k in data.files if k.startswith("threshold_")}
    return signals, thresholds
